import type { Request, Response, Router } from 'express';
import { deleteAccount, type Deletion } from '../../accounts/delete-account.ts';
import { findManageableUser } from '../../accounts/find-user.ts';
import { bodyOf, formFailure, text, tooLongFailure, typedFormBody, type FormFailure } from '../form-input.ts';
import type { ConsoleKit } from '../kit.ts';
import { setFlash } from '../page.ts';

/** The delete form sent without the person's username typed again (or another one): nothing is deleted. */
function deletionNotConfirmed(username: string): FormFailure {
  return {
    status: 400,
    errors: { confirmUsername: `type ${username} to confirm` },
    notice: `Type ${username} to delete their account. Nothing was deleted.`,
  };
}

/** What the administrator is told once an account is deleted. */
function deletionDone(deletion: Deletion): string {
  const signedOut =
    deletion.endedSessions === 0
      ? 'they were signed in nowhere'
      : deletion.endedSessions === 1
        ? 'the 1 browser or device they were signed in on was signed out at once, with its apps and chat'
        : `the ${deletion.endedSessions} browsers or devices they were signed in on were signed out at once, with their apps and chat`;
  return `Deleted ${deletion.username}: ${signedOut}. Their username is kept so that nobody else gets it; their messages stay in their conversations, from a former member.`;
}

/** Draws the person's page again, saying why nothing was deleted beside the delete form. */
type RenderPerson = (
  req: Request,
  res: Response,
  userId: string,
  state: { deleteFailure: FormFailure },
) => Promise<void>;

/**
 * "Delete account" on a person's console page (gateway/accounts/delete-account.ts says what it does and who
 * may): for good, so only once the person's username is typed again. Done, the list of users shows.
 */
export function deletionRoute(router: Router, kit: ConsoleKit, renderPerson: RenderPerson): void {
  const deleteBody = typedFormBody((req, res) =>
    renderPerson(req, res, String(req.params.id), {
      deleteFailure: tooLongFailure({ confirmUsername: 'too long: type the username alone' }, 'Nothing was deleted.'),
    }),
  );
  router.post('/users/:id/delete', deleteBody, kit.csrf.check, async (req, res) => {
    const id = String(req.params.id);
    try {
      const { user } = await findManageableUser(kit.context(req), id);
      if (text(bodyOf(req), 'confirmUsername').trim().toLowerCase() !== user.username)
        return await renderPerson(req, res, id, { deleteFailure: deletionNotConfirmed(user.username) });
      setFlash(req, deletionDone(await deleteAccount(kit.context(req), user.id)));
      res.redirect(303, '/admin/users');
    } catch (error) {
      await renderPerson(req, res, id, { deleteFailure: formFailure(error) });
    }
  });
}
