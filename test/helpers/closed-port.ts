/**
 * A loopback URL where nothing listens. Port 2 is privileged, so it is never
 * handed out as an ephemeral port: a server's port freed by close() could be
 * taken by a parallel test file before the request connects. It is also not
 * on fetch's list of blocked ports (1, 7, 9, ... are), so fetch really
 * connects and sees ECONNREFUSED.
 */
export const CLOSED_LOOPBACK_URL = 'http://127.0.0.1:2';
