/**
 * `@atrium/sdk/bot`: an app's bot on a node, with what its calls take and answer, and the error they
 * reject with, so an app that only posts needs no other entry.
 */
export { AtriumBot, type BotOptions, type BotPost } from '../bot.ts';
export { AtriumError, type Ack, type Card, type Conversation, type ErrorCode, type Message } from '../types.ts';
