/** Sends `data` with `fds` attached (SCM_RIGHTS) on a non-blocking unix socket; returns the bytes sent. */
export function sendFds(socketFd: number, data: Buffer, fds: number[]): number;
/**
 * Receives one message and its descriptors (close-on-exec); `data` is empty at end of stream.
 * Throws with code `EAGAIN` when nothing is waiting.
 */
export function recvFds(socketFd: number): { data: Buffer; fds: number[]; truncated: boolean };
/**
 * Who is at the other end of a connected unix socket, as the kernel recorded it at connect
 * (SO_PEERCRED; getpeereid where there is none, then `pid` is -1).
 */
export function peerCredentials(socketFd: number): { uid: number; gid: number; pid: number };
/**
 * The `mcp-parent-guard` program (Linux): `mcp-parent-guard <parent-pid> <path> <argv0> [args...]`
 * runs a command that is killed, with its process group, when the parent dies; undefined where
 * it was not built.
 */
export const parentGuardPath: string | undefined;
