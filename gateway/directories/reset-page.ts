import type { GatewayModels } from '../models/index.ts';
import type { DirectoryResetPage } from '../recovery/directory-reset.ts';

/** For "forgot password": a directory person is sent their directory's reset page, a local person null. */
export function directoryResetPages(models: GatewayModels): DirectoryResetPage {
  return async (user) => {
    const link = await models.DirectoryAccount.findByPk(user.id);
    if (!link) return null;
    const directory = await models.Directory.findByPk(link.directoryId);
    return directory?.resetUrl ?? null;
  };
}

/** Every directory's reset page, for the "forgot password" form to list beside the mail form. */
export async function resetPagesToShow(models: GatewayModels): Promise<{ name: string; url: string }[]> {
  const directories = await models.Directory.findAll({ attributes: ['name', 'resetUrl'], order: [['name', 'ASC']] });
  return directories.filter((d) => d.resetUrl).map((d) => ({ name: d.name, url: d.resetUrl! }));
}
