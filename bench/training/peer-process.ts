/** Runs bench/training/peer.py (scikit-learn) in a child process and parses its JSON line. */
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const PEER_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'peer.py')

/** Result line of peer.py: fit seconds, scikit-learn's version and the command's figures. */
export type PeerResult = { seconds: number; sklearn: string } & Record<string, number | string>

/**
 * Runs `python peer.py COMMAND ARGS...` and returns its JSON output. `threads` sets
 * OMP_NUM_THREADS, which caps scikit-learn's OpenMP threads (k-means, not the forest's
 * n_jobs). Throws when the script fails.
 */
export function runPeer(
  python: string,
  command: string,
  args: string[],
  threads?: number,
): PeerResult {
  const env =
    threads === undefined ? process.env : { ...process.env, OMP_NUM_THREADS: `${threads}` }
  const child = spawnSync(python, [PEER_SCRIPT, command, ...args], {
    env,
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  })
  if (child.error) throw new Error(`${python} ${command} failed to start: ${child.error.message}`)
  if (child.status !== 0) {
    throw new Error(`${python} peer.py ${command} exited with ${child.status}:\n${child.stderr}`)
  }
  const lines = child.stdout.trim().split('\n')
  return JSON.parse(lines[lines.length - 1] as string) as PeerResult
}
