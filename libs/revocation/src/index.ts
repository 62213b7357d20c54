export { RevocationFeed } from './feed';
export type { RevocationList } from './revocation_list';
export { RevocationService } from './revocation_service';
export { revocationStore, type RevocationStore } from './revocation_store';
export { RevocationSync } from './revocation_sync';
export { revocationRouter } from './router';
export { TokenOwnerRegistry } from './token_owners';
export { attachRevocationWebSocket } from './websocket';
