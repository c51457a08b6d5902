import { describe, expect, it } from 'vitest';
import { isLoopbackHost } from '../../core/loopback.ts';

describe('a loopback host', () => {
  it('is this machine by any of its names, and nothing that merely starts or ends like one', () => {
    for (const host of ['localhost', 'LocalHost', '127.0.0.1', '127.4.5.6', '::1', '[::1]'])
      expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ['0.0.0.0', '192.0.2.2', '127.0.0.1.evil.example', 'localhost.example', '::', '10.127.0.1'])
      expect(isLoopbackHost(host), host).toBe(false);
  });
});
