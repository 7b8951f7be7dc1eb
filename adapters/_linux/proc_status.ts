/**
 * What Linux tells about another process in `/proc/<pid>/`: its resident set
 * and whether it still runs. Each adapter passes its runtime's way of reading
 * a file.
 *
 * @module
 */

/** Reads a whole file as text; throws when it cannot. */
export type ReadText = (path: string) => string;

/**
 * A process's resident set, from the `VmRSS:` line (in kB) of its
 * `/proc/<pid>/status`.
 *
 * @param pid The process.
 * @param readText How to read the file.
 * @returns Bytes, or `undefined` when the process is gone or the system cannot tell.
 */
export function residentBytes(pid: number, readText: ReadText): number | undefined {
  let status: string;
  try {
    status = readText(`/proc/${pid}/status`);
  } catch {
    return undefined;
  }
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  return kb === undefined ? undefined : Number(kb) * 1024;
}

/**
 * Whether a process's `/proc/<pid>/stat` shows it running: not a zombie
 * (exited, its parent has not collected it yet).
 *
 * @param stat The file's text.
 * @returns False for a zombie.
 */
export function runningPerStat(stat: string): boolean {
  // The state follows the parenthesised command name, which may itself contain spaces.
  const after = stat.lastIndexOf(")");
  return stat.slice(after + 2, after + 3) !== "Z";
}
