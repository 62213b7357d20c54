// Test support of @ctp/ledger (the ./internal subpath): names only specs and fault suites import.
export { ensurePartitions, hotPartitions, monthStart, partitionName } from './tiers/partitions';
