/**
 * A person as the gateway's directory answers a domain node (`GET /federation/v1/directory`) and the node
 * passes on to its clients (`GET /api/v1/directory`): their name, username, home address first among the
 * addresses of the domains the asker may see, and units. In a search only, an app's bot at the asking
 * node is answered too, marked `app`, so that nobody takes it for a person.
 */
export type DirectoryPerson = {
  name: string;
  username: string;
  address: string;
  addresses: string[];
  units: string[];
  app?: true;
};

/**
 * Someone whose account was deleted, answered beside the people of a lookup by usernames (`former`): what
 * they wrote stays, shown from `name` ("Former member") at these addresses. Never a person to write to.
 */
export type FormerMember = { username: string; name: string; addresses: string[] };

/**
 * Someone whose account an administrator disabled, answered beside the people of a lookup by usernames
 * (`disabled`), never in a search: they keep the name they had where it was shown, marked disabled, and
 * what is sent to them waits until their account is enabled again. Apart from the people, so that nothing
 * takes them for someone to start a conversation with, invite, or count as still active. Only what a
 * lookup answers of a person's name and addresses; nothing about why.
 */
export type DisabledPerson = { username: string; name: string; addresses: string[]; disabled: true };
