/** The Incus boundary: REST client, events stream, typed errors, object types. */
export * from './client.js';
export * from './endpoint.js';
export * from './errors.js';
export * from './events.js';
export * from './types.js';
export * from './cluster.js';
