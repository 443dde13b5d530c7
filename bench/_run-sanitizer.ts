import { run as a } from './sanitizer.js';
import { run as b } from './sanitizer-adversarial.js';
await a();
await b();
