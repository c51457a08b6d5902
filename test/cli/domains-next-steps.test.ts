import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonOf, runAtrium } from '../helpers/cli.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway('cli-domains-next');
});
afterAll(async () => gateway?.stop());

async function atrium(...args: string[]) {
  const result = await runAtrium(gateway.db, args);
  expect(result.code, result.stderr).toBe(0);
  return result.stdout;
}

describe('adding and removing a domain at the command line', () => {
  it('tells what to do next after adding a domain: start its node, pin its keys, allow its pairs', async () => {
    await atrium('units', 'add', 'campus/med', '--name', 'College of Medicine');
    const added = await atrium(
      'domains',
      'add',
      'med.campus.test',
      '--url',
      'http://127.0.0.1:4297',
      '--unit',
      'campus/med',
    );
    expect(added).toBe(
      [
        'Added domain med.campus.test at http://127.0.0.1:4297, serving campus/med.',
        'Next:',
        '  1. Start its node with this URL: atrium migrate --node med.campus.test, then',
        '     NODE_PUBLIC_URL=http://127.0.0.1:4297 atrium node --domain med.campus.test',
        "     (GATEWAY_ISSUER set to this gateway's issuer, NODE_SECRET_KEY to a secret of its own).",
        '  2. While it runs, pin its keys here: atrium domains pin med.campus.test',
        '  3. For each domain its people may exchange messages with: atrium domains allow med.campus.test OTHER_DOMAIN',
        '     (the other domains: arts.campus.test, eng.campus.test).',
        '',
      ].join('\n'),
    );
    // The commands it names exist, with the arguments it gives them.
    for (const words of [
      ['migrate', '--node', 'med.campus.test'],
      ['node', '--domain', 'med.campus.test'],
      ['domains', 'pin', 'med.campus.test'],
      ['domains', 'allow', 'med.campus.test', 'eng.campus.test'],
    ])
      expect((await runAtrium(gateway.db, [...words, '--help'])).code, words.join(' ')).toBe(0);

    await atrium('units', 'add', 'campus/dent', '--name', 'School of Dentistry');
    const json = jsonOf(
      await runAtrium(gateway.db, [
        'domains',
        'add',
        'dent.campus.test',
        '--url',
        'http://127.0.0.1:4296',
        '--unit',
        'campus/dent',
        '--json',
      ]),
    );
    expect(Object.keys(json).sort()).toEqual(['id', 'name', 'units', 'url'].sort());
  });

  it('says the units a removed domain served stay, and which domain serves them now', async () => {
    const help = await atrium('domains', 'remove', '--help');
    expect(help).toContain('The units it served stay, with their people, served by a domain above them or by none.');
    expect(help).not.toContain('with the units it serves');

    const removed = await atrium('domains', 'remove', 'med.campus.test');
    expect(removed).toBe(
      'Removed domain med.campus.test. Its units stay, with their people: campus/med (no chat domain).\n',
    );
    expect(await gateway.models.OrgUnit.count({ where: { path: 'campus/med' } })).toBe(1);

    await atrium(
      'domains',
      'add',
      'ee.campus.test',
      '--url',
      'http://127.0.0.1:4299',
      '--unit',
      'campus/eng/ee',
      '--move-people',
    );
    expect(await atrium('domains', 'remove', 'ee.campus.test', '--move-people')).toContain(
      'Its units stay, with their people: campus/eng/ee (now served by eng.campus.test).',
    );
  });
});
