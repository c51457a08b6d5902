import { describe, expect, it } from 'vitest';
import { tokensOf as tokensAsMigrated } from '../../migrations/node/0070-search-index.ts';
import { documentTokens, hasTerms, queryTerms } from '../../node/messages/search-tokens.ts';
import { SEARCH_CORPUS, SEARCH_QUERIES } from '../helpers/search-corpus.ts';

/** Whether a text's tokens satisfy a query's terms, as the index would judge. */
function indexMatches(text: string, needle: string): boolean {
  const tokens = new Set(documentTokens(text).split(' '));
  const terms = queryTerms(needle);
  return terms.exact.every((t) => tokens.has(t)) && terms.prefix.every((p) => [...tokens].some((t) => t.startsWith(p)));
}

describe('search tokens', () => {
  it('give every substring of a text terms that the text satisfies (the index never loses a match)', () => {
    let checked = 0;
    for (const text of SEARCH_CORPUS) {
      const lower = text.toLowerCase();
      for (let start = 0; start < lower.length; start++) {
        for (let end = start + 2; end <= Math.min(lower.length, start + 14); end++) {
          const needle = lower.slice(start, end);
          if (!indexMatches(text, needle)) expect.fail(`${JSON.stringify(needle)} in ${JSON.stringify(text)}`);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(3000);
  });

  it('narrow to the texts that contain the words and the characters asked for', () => {
    const candidates = (query: string) => SEARCH_CORPUS.filter((text) => indexMatches(text, query.toLowerCase()));
    expect(candidates('lab report')).toEqual(['Lab REPORT due Friday', 'the lab report is done, see the appendix']);
    expect(candidates('图书馆')).toEqual(['我们明天在图书馆见面', '图书馆几点关门？']);
    expect(candidates('東京都')).toEqual(['東京都に行きます。コーヒーを飲みましょう']);
    expect(candidates('コーヒー')).toEqual([
      '東京都に行きます。コーヒーを飲みましょう',
      'コーヒーとお茶、どちらがいいですか',
    ]);
    expect(candidates('über')).toEqual(['ÜBER alles: Übermorgen früh um 7 Uhr', 'über den Fluss und durch den Wald']);
    expect(candidates('zebra')).toEqual(['Zzz... zebra puzzle jazz']);
    expect(candidates('nothing like this')).toEqual([]);
  });

  it('give terms for every query with two letters in a row or two runs of letters, and none for a lone letter', () => {
    for (const query of ['ab', 'ok', 'rt', '东京', 'a3', 'ヒー', 'ıs', 'e_c', 'a b'])
      expect(hasTerms(queryTerms(query)), query).toBe(true);
    for (const query of ['c#', 'c++', '🎉🎉', '\ud83cx', '#1']) expect(hasTerms(queryTerms(query)), query).toBe(false);
  });

  it('narrow a query of several words to the texts where they meet as asked', () => {
    const texts = ['you can come', 'can you go', 'you, can you?', 'thank you. can we'];
    const candidates = (query: string) =>
      texts.filter((text) => {
        const tokens = new Set(documentTokens(text).split(' '));
        const terms = queryTerms(query);
        return (
          terms.exact.every((t) => tokens.has(t)) && terms.prefix.every((p) => [...tokens].some((t) => t.startsWith(p)))
        );
      });
    expect(candidates('you can')).toEqual(['you can come']);
    expect(candidates('you, can')).toEqual(['you, can you?']);
    expect(candidates('can you')).toEqual(['can you go', 'you, can you?']);
  });

  it('are those the migration indexed stored messages with (a changed tokenizer needs a migration that indexes again)', () => {
    for (const text of [...SEARCH_CORPUS, ...SEARCH_QUERIES]) expect(tokensAsMigrated(text)).toBe(documentTokens(text));
  });

  it('are those the migration stored for text of every kind: words with z, accents, CJK, emoji, marks, broken pairs', () => {
    // Plain words take a shorter way through the tokenizer than the rest; mixed together, both must agree.
    const pieces = [...'aqyzZ09 ,.-éÉßİ東京ひカΩﬁ\t', '  ', '😀', '\u0301', '\ud800', 'report', 'Lab'];
    let seed = 7;
    const next = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    for (let i = 0; i < 5000; i++) {
      let text = '';
      const length = Math.floor(next() * 24);
      for (let j = 0; j < length; j++) text += pieces[Math.floor(next() * pieces.length)];
      expect(documentTokens(text), JSON.stringify(text)).toBe(tokensAsMigrated(text));
    }
  });
});
