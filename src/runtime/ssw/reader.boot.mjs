// Worker entry: workers do not inherit tsx's loader reliably, so register it here and then
// load the TypeScript reader.
import { register } from 'tsx/esm/api';

register();
await import('./reader.worker.ts');
