/**
 * A deterministic chat corpus for bench:search: English chat about campus life with a long tail of
 * names and codes, some German, and 5% of messages in Chinese or Japanese written without spaces; and
 * the queries a member types, drawn from the same vocabulary.
 */

/** mulberry32: the same seed gives the same corpus on every database and every run. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const COMMON = `i you we the a to and is it for of in on that this be have are at with do not can will so but just
what if my your our me know think see get go going about all there when here now need want like make sure
right yes no ok okay thanks thank please sorry great good nice cool maybe also still really one two some
time day today tomorrow tonight later soon morning afternoon evening week next last again first back done
let us send check look meet call tell ask help work start finish wait come take bring find use try read`
  .split(/\s+/)
  .filter(Boolean);

const TOPICAL = `meeting lecture seminar library exam deadline report draft slides project lab experiment
assignment homework grade professor tutor course syllabus schedule room building campus cafeteria lunch
coffee dinner budget invoice contract proposal review feedback presentation conference paper thesis
chapter results figures dataset analysis server password account login printer scanner laptop email
calendar invitation agenda minutes notes whiteboard parking bicycle shuttle train ticket weekend holiday
semester registration enrollment scholarship application interview internship department faculty
committee workshop hackathon tournament concert rehearsal volunteer newsletter announcement survey`
  .split(/\s+/)
  .filter(Boolean);

const GERMAN = `Prüfung Übung Vorlesung Bücherei Straße Grüße Mensa Hörsaal Fußball Brötchen Äpfel Schlüssel
Gebäude Führung Tschüss müde schön früh später Größe Öffnungszeiten Kühlschrank Übersetzung Gespräch`
  .split(/\s+/)
  .filter(Boolean);

const CHINESE = `图书馆 会议 明天 考试 老师 学生 项目 报告 下午 上午 食堂 实验室 作业 讨论 时间 地点 同学 课程 论文 数据
结果 问题 谢谢 没问题 好的 我们 你们 今天 晚上 周末 宿舍 教室 邮件 文件 打印 复习 准备 通知 活动 比赛`
  .split(/\s+/)
  .filter(Boolean);

const JAPANESE = `東京 会議 明日 試験 先生 学生 資料 報告 午後 食堂 研究室 宿題 コーヒー よろしくお願いします ありがとう
図書館 発表 締め切り 授業 確認 メール 予定 大丈夫 お疲れ様です 来週 今日 レポート サークル 部屋 時間`
  .split(/\s+/)
  .filter(Boolean);

const SYLLABLES = 'ka ri no ta mel sen vor lin da pe tro mi ras quo bel han zu fi gor ney sal wen dro lu ix'.split(' ');

/** Weighted towards the front of a list, as word use is. */
const skewed = <T>(list: T[], r: () => number) => list[Math.floor(list.length * r() ** 2.2)]!;
const pick = <T>(list: T[], r: () => number) => list[Math.floor(list.length * r())]!;

/** Made-up names (people, places, codes): the long tail a chat is full of. */
export function names(count: number, seed: number): string[] {
  const r = random(seed);
  const out = new Set<string>();
  while (out.size < count) {
    const n = 2 + Math.floor(r() * 3);
    out.add(Array.from({ length: n }, () => pick(SYLLABLES, r)).join(''));
  }
  return [...out];
}

export type Corpus = { text(i: number): string };

/** Message number `i`'s text; the same for the same seed. */
export function corpus(seed: number, cjkShare = 0.05): Corpus {
  const tail = names(20_000, seed + 1);
  return {
    text(i) {
      const r = random(seed * 1_000_003 + i);
      if (r() < cjkShare) {
        const words = r() < 0.5 ? CHINESE : JAPANESE;
        const n = 3 + Math.floor(r() * 6);
        let out = '';
        for (let w = 0; w < n; w++) out += skewed(words, r) + (r() < 0.15 ? (words === CHINESE ? '，' : '、') : '');
        return out + (words === CHINESE ? '。' : '。');
      }
      const n = 4 + Math.floor(r() * 15);
      const words: string[] = [];
      for (let w = 0; w < n; w++) {
        const x = r();
        if (x < 0.68) words.push(skewed(COMMON, r));
        else if (x < 0.88) words.push(skewed(TOPICAL, r));
        else if (x < 0.92) words.push(skewed(GERMAN, r));
        else if (x < 0.98) words.push(r() < 0.5 ? capitalize(pick(tail, r)) : pick(tail, r));
        else words.push(r() < 0.5 ? `#${Math.floor(r() * 100_000)}` : `B${100 + Math.floor(r() * 400)}`);
      }
      if (r() < 0.5) words[0] = capitalize(words[0]!);
      return `${words.join(' ')}${pick(['', '', '.', '!', '?', ' :)', ' 👍', '...'], r)}`;
    },
  };
}

const capitalize = (w: string) => w.charAt(0).toUpperCase() + w.slice(1);

export type Query = { kind: string; query: string };

/** A member's searches: words and names, phrases from messages, prefixes, short and CJK queries, misses. */
export function queries(seed: number, messages: number): Query[] {
  const r = random(seed + 7);
  const tail = names(20_000, seed + 1);
  const text = corpus(seed);
  const out: Query[] = [];
  const add = (kind: string, count: number, make: () => string) => {
    for (let i = 0; i < count; i++) out.push({ kind, query: make() });
  };
  add('topical word', 15, () => pick(TOPICAL, r));
  add('name (rare)', 15, () => pick(tail, r));
  add('phrase from a message', 15, () => {
    for (;;) {
      const words = text.text(Math.floor(r() * messages)).split(' ');
      if (words.length < 4) continue;
      const at = Math.floor(r() * (words.length - 2));
      return words.slice(at, at + 2).join(' ');
    }
  });
  add('prefix (3 letters)', 10, () => pick(TOPICAL, r).slice(0, 3));
  add('inside a word', 10, () => {
    const w = pick(
      TOPICAL.filter((t) => t.length >= 7),
      r,
    );
    return w.slice(2, 6);
  });
  add('two letters', 5, () => pick(['ok', 'ex', 'la', 'ro', 'ch'], r));
  add('Chinese', 8, () => pick(CHINESE, r) + (r() < 0.4 ? pick(CHINESE, r) : ''));
  add('Japanese', 7, () => pick(JAPANESE, r));
  add('German', 5, () => pick(GERMAN, r).toLowerCase());
  add('common word', 5, () => pick(['tomorrow', 'thanks', 'sorry', 'morning', 'finish'], r));
  add('miss', 5, () => `${pick(SYLLABLES, r)}xq${pick(SYLLABLES, r)}`);
  return out;
}
