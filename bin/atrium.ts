#!/usr/bin/env node
import { runCli } from '../cli/run.ts';
import { stopWhenNpmExits } from '../cli/run-units.ts';

stopWhenNpmExits(process.env, process.stderr);

const code = await runCli(process.argv.slice(2), {
  env: process.env,
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
});
// A failed start can leave a half-opened resource (a database pool) that would hold the process for seconds.
if (code !== 0) process.exit(code);
