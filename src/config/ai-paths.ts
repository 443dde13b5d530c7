/**
 * Kept only for src/daemon/daemon.ts's type import: the AI access paths, their
 * defaults and overrides live in ./paths.ts with every other anklume path.
 */
export type { AiAccessPaths } from './paths.js';
