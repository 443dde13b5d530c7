/**
 * The id of an object in plans, outcomes and status: `<kind>/<name>` for
 * objects of no project (projects, bridges), `<kind>/<project>/<name>` for the
 * others. One scheme for every controller, so status can join them.
 */
export function objectId(kind: string, project: string | null, name: string): string {
  return project === null ? `${kind}/${name}` : `${kind}/${project}/${name}`;
}

/** A deployed service has one id per instance. */
export function serviceObjectId(project: string, instance: string): string {
  return objectId('service', project, instance);
}
