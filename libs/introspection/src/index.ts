export { startIntrospection } from './service';
