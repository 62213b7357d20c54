export { Introspector } from './introspector';
export { introspectorRouter } from './router';
export { DecisionLog } from './decision_log';
