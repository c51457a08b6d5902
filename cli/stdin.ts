import { ValidationError } from '../core/errors.ts';
import { UsageError, type Io } from './command.ts';

/**
 * The password for --password-stdin: the first line of piped input, or typed at a terminal without echo.
 * Passwords never come from arguments, which other users can read in the process list.
 */
export async function readPasswordFromStdin(io: Io): Promise<string> {
  const line = io.stdin.isTTY ? await readHidden(io, 'Password: ') : await readFirstLine(io);
  if (line === '')
    throw new ValidationError('No password on stdin', { password: 'required (the first line of stdin)' });
  return line;
}

/** The first line of stdin, piped or typed (echoed), without its line break. */
export function readFirstLine(io: Io): Promise<string> {
  const stdin = io.stdin;
  return new Promise((resolve, reject) => {
    let buffer = '';
    const finish = (line: string) => {
      stdin.off('data', onData).off('end', onEnd).off('error', reject);
      stdin.pause();
      resolve(line.replace(/\r$/, ''));
    };
    const onData = (chunk: string) => {
      buffer += chunk;
      const newline = buffer.indexOf('\n');
      if (newline !== -1) finish(buffer.slice(0, newline));
    };
    const onEnd = () => finish(buffer);
    stdin.setEncoding('utf8');
    stdin.on('data', onData).once('end', onEnd).once('error', reject);
  });
}

function readHidden(io: Io, prompt: string): Promise<string> {
  const stdin = io.stdin;
  io.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (error?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      io.stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return finish();
        if (ch === '\u0003') return finish(new UsageError('cancelled'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.setRawMode(true);
    stdin.setEncoding('utf8');
    stdin.on('data', onData);
    stdin.resume();
  });
}
