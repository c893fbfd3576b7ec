/**
 * The hostile-input edge of the scenario loader: bytes → text → YAML document → plain values, with
 * every way that can go wrong turned into one positioned problem instead of an exception.
 *
 * - bytes: a scenario file is UTF-8 (a BOM is allowed); the first byte that is not UTF-8 is reported;
 * - nesting: the YAML composer and everything after it recurse once per level, so a document
 *   nested deeper than MAX_NESTING collections is refused before it is composed (the limit is
 *   fixed, so the message and position do not depend on the JavaScript stack's size);
 * - aliases: an alias must follow its anchor and must not point into the node that contains it (a
 *   cycle); one that expands to too many nodes (an alias bomb) is refused;
 * - tags: a tag the YAML 1.2 core schema does not know is an error, not a silent string.
 */
import {
  Composer,
  type CST,
  type Document,
  isAlias,
  isCollection,
  isScalar,
  LineCounter,
  type Node,
  Parser,
  visit,
  YAMLParseError,
} from 'yaml';

/** collections nested inside each other; real scenarios use fewer than ten */
export const MAX_NESTING = 100;

/** largest scenario file read (a 100,000-step scenario is about 12 MB) */
export const MAX_SCENARIO_BYTES = 32 * 1024 * 1024;

/** how many nodes the aliases of one document may expand to (yaml's maxAliasCount) */
export const MAX_ALIAS_COUNT = 100;

export interface TextProblem {
  line: number;
  col: number;
  message: string;
}

export class TextProblemError extends Error {
  readonly problem: TextProblem;
  constructor(problem: TextProblem) {
    super(problem.message);
    this.problem = problem;
  }
}

/** offset of the first byte that does not belong to a well-formed UTF-8 sequence, or -1 */
export function firstInvalidUtf8(b: Uint8Array): number {
  const n = b.length;
  let i = 0;
  while (i < n) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0;
      if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= need; k++) {
      const d = b[i + k];
      if (d === undefined) return i;
      if (k === 1 ? d < lo || d > hi : d < 0x80 || d > 0xbf) return i;
    }
    i += need + 1;
  }
  return -1;
}

const utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/** the text of a scenario file, or the position of its first non-UTF-8 byte */
export function decodeScenarioBytes(bytes: Uint8Array): string {
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))
    throw new TextProblemError({ line: 1, col: 1, message: 'not a scenario file: UTF-16 text (save it as UTF-8)' });
  const bad = firstInvalidUtf8(bytes);
  // a NUL before it: binary content, which the loader reports as such
  if (bad < 0 || bytes.subarray(0, bad).includes(0)) return utf8.decode(bytes);
  let lineStart = 0;
  let line = 1;
  for (let i = 0; i < bad; i++)
    if (bytes[i] === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  const col = utf8.decode(bytes.subarray(lineStart, bad)).length + 1;
  const hex = bytes[bad]!.toString(16).padStart(2, '0');
  throw new TextProblemError({ line, col, message: `not UTF-8 text (byte 0x${hex})` });
}

type CollectionToken = CST.BlockMap | CST.BlockSequence | CST.FlowCollection;
const isCollectionToken = (t: CST.Token): t is CollectionToken =>
  t.type === 'block-map' || t.type === 'block-seq' || t.type === 'flow-collection';

/** the first collection (in document order) nested deeper than MAX_NESTING, walked without recursion */
function tooDeep(doc: CST.Token): CollectionToken | undefined {
  const stack: [CST.Token, number][] = [[doc, 0]];
  while (stack.length) {
    const [t, depth] = stack.pop()!;
    let children: (CST.Token | null | undefined)[] = [];
    let d = depth;
    if (t.type === 'document') children = [t.value];
    else if (isCollectionToken(t)) {
      d = depth + 1;
      if (d > MAX_NESTING) return t;
      for (const it of t.items) children.push(it.key, it.value);
    } else if (t.type === 'block-scalar') children = [];
    for (let i = children.length - 1; i >= 0; i--) {
      const c = children[i];
      if (c) stack.push([c, d]);
    }
  }
  return undefined;
}

/**
 * Parse one YAML document as parseDocument does (errors carry linePos), refusing over-deep nesting
 * and a second document.
 */
export function parseScenarioYaml(text: string, lc: LineCounter): Document.Parsed {
  const parser = new Parser(lc.addNewLine);
  // logLevel error: yaml reports nothing through process.emitWarning (a second line on stderr)
  const composer = new Composer({ intAsBigInt: true, uniqueKeys: true, logLevel: 'error' });
  let doc: Document.Parsed | undefined;
  const take = (docs: Iterable<Document.Parsed>): boolean => {
    for (const d of docs) {
      if (!doc) doc = d;
      else {
        doc.errors.push(
          new YAMLParseError(
            [d.range[0], d.range[1]],
            'MULTIPLE_DOCS',
            'a scenario file holds one YAML document (a second one starts here)',
          ),
        );
        return false;
      }
    }
    return true;
  };
  for (const token of parser.parse(text)) {
    const deep = tooDeep(token);
    if (deep) {
      const p = lc.linePos(deep.offset);
      throw new TextProblemError({
        line: p.line,
        col: p.col,
        message: `nested deeper than ${MAX_NESTING} levels`,
      });
    }
    if (!take(composer.next(token))) break;
  }
  if (doc === undefined || !doc.errors.some((e) => e.code === 'MULTIPLE_DOCS')) take(composer.end(true, text.length));
  const d = doc!;
  for (const e of [...d.errors, ...d.warnings]) e.linePos = [lc.linePos(e.pos[0]), lc.linePos(e.pos[1])];
  // an unknown tag is a warning to yaml (the value stays a string): here it is an error
  const tag = d.warnings.find((w) => w.code === 'TAG_RESOLVE_FAILED');
  if (tag) {
    const e = new YAMLParseError(tag.pos, tag.code, tag.message.replace(/^Unresolved tag/, 'unknown tag'));
    if (tag.linePos) e.linePos = tag.linePos;
    d.errors.push(e);
  }
  return d;
}

/** the document's value as plain JavaScript, after checking its aliases */
export function scenarioValue(doc: Document.Parsed, lc: LineCounter): unknown {
  const anchors = new Map<string, Node>();
  let first: Node | undefined;
  let problem: TextProblem | undefined;
  const at = (n: Node, message: string): TextProblem => {
    const p = lc.linePos(n.range?.[0] ?? 0);
    return { line: p.line, col: p.col, message };
  };
  visit(doc, {
    Pair(_key, pair) {
      if (isCollection(pair.key)) {
        problem = at(pair.key, 'a mapping key is a name or a number, not a list or a mapping');
        return visit.BREAK;
      }
      return undefined;
    },
    Node(_key, node, path) {
      if (isAlias(node)) {
        first ??= node;
        const target = anchors.get(node.source);
        if (!target) {
          problem = at(node, `alias *${node.source} has no anchor &${node.source} before it`);
          return visit.BREAK;
        }
        if (path.includes(target as never)) {
          problem = at(node, `alias *${node.source} refers to a node that contains it (a cycle)`);
          return visit.BREAK;
        }
      } else if ((isScalar(node) || isCollection(node)) && node.anchor) anchors.set(node.anchor, node);
      return undefined;
    },
  });
  if (problem) throw new TextProblemError(problem);
  try {
    return doc.toJS({ mapAsMap: false, maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    if (!(e instanceof ReferenceError || e instanceof RangeError)) throw e;
    const where = first ?? (doc.contents as Node | null) ?? undefined;
    const p = where ? lc.linePos(where.range?.[0] ?? 0) : { line: 1, col: 1 };
    throw new TextProblemError({
      line: p.line,
      col: p.col,
      message:
        e instanceof ReferenceError
          ? `the aliases expand to too many nodes (more than ${MAX_ALIAS_COUNT}): an alias bomb?`
          : 'too deeply nested',
    });
  }
}

export { LineCounter };
