import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../core/errors.ts';
import { createUser } from '../../gateway/accounts/create-user.ts';
import { operator } from '../../gateway/context.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway('create-user-problems');
});
afterAll(async () => {
  await gateway?.stop();
});

const fieldsOf = async (input: Record<string, unknown>) => {
  const error = await createUser({ ...gateway.context(null), actor: operator('test') }, input).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ValidationError);
  return (error as ValidationError).fields;
};

describe('a new account with several problems', () => {
  it('says at once that the username is taken and the email is not one', async () => {
    const fields = await fieldsOf({
      username: 'alice',
      displayName: 'Alice Again',
      email: 'not-an-email',
      units: ['campus/eng'],
      roles: ['student'],
    });
    expect(fields).toEqual({ username: 'Username alice is taken', email: 'not a valid email address' });
  });

  it('says at once that the email is used and the role is unknown', async () => {
    const alice = await gateway.models.User.findOne({ where: { username: 'alice' } });
    const fields = await fieldsOf({
      username: 'alice-two',
      displayName: 'Alice Two',
      email: alice!.email.toUpperCase(),
      units: ['campus/eng'],
      roles: ['studnet'],
    });
    expect(fields).toEqual({
      email: `Email ${alice!.email} is already used by another account`,
      'roles.0': 'one of student, staff, admin, unit-admin',
    });
    expect(await gateway.models.User.count({ where: { username: 'alice-two' } })).toBe(0);
  });

  it('says at once that a unit does not exist, with the other problems', async () => {
    const fields = await fieldsOf({
      username: 'zed',
      displayName: 'Zed',
      email: 'bad',
      units: ['campus/eng', 'campus/nope'],
      roles: ['wizard'],
    });
    expect(fields).toEqual({
      email: 'not a valid email address',
      units: 'unknown unit campus/nope',
      'roles.0': 'one of student, staff, admin, unit-admin',
    });
  });
});
