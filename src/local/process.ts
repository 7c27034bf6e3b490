// The only module that starts processes on the runner.

import { spawn, type ChildProcess } from 'child_process'
import { PassThrough, type Readable } from 'stream'

export interface LocalResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Run a program to completion, capturing its output (no shell involved). */
export function runLocal(program: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<LocalResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', c => (stdout += c))
    child.stderr.on('data', c => (stderr += c))
    child.on('error', reject)
    child.on('close', code => resolve({ code, stdout, stderr }))
    // A program that exits without reading its input makes the write fail with EPIPE;
    // its exit code tells what happened.
    child.stdin.on('error', () => undefined)
    child.stdin.end(options.input ?? '')
  })
}

/**
 * Start a program whose stdout is streamed elsewhere (a git pack over SSH). Its output
 * is piped into `output` at once: Node discards the unread stdout of a child that has
 * exited, and a small pack is written and done before the SSH channel is open.
 */
export function startLocal(program: string, args: string[], options: { cwd?: string; input?: string } = {}): { child: ChildProcess; output: Readable } {
  const child = spawn(program, args, { cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] })
  child.stdin!.on('error', () => undefined)
  child.stdin!.end(options.input ?? '')
  const output = new PassThrough()
  child.stdout!.pipe(output)
  return { child, output }
}
