// Worker entry: workers do not inherit tsx's loader reliably, so register it here and then
// load the TypeScript data-path thread.
import { register } from 'tsx/esm/api';

register();
await import('./dataThread.worker.ts');
