const DESCRIPTIONS: Record<string, string> = {
  openid: 'Know who you are',
  profile: 'See your name and username',
  email: 'See your email address',
  atrium: 'See your roles, units and chat domains',
  offline_access: 'Stay signed in while you are away',
  'atrium:admin': 'Act as an administrator of Atrium for you: register, change, disable and delete apps with your administrator rights',
};

/** Plain-language lines for the consent page. */
export function describeScopes(scopes: string[]): { scope: string; text: string }[] {
  return scopes.map((scope) => ({ scope, text: DESCRIPTIONS[scope] ?? scope }));
}
