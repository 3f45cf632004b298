/**
 * Word (.docx) reading for notes and transcripts: mammoth parses the package and its styles, and
 * we keep only what the parsers need from its document tree: each paragraph's text and whether its
 * style makes it a heading, a list item or a plain paragraph.
 */
import { readFile } from 'node:fs/promises';
import mammoth from 'mammoth';
import { errorMessage } from '../app/errors.ts';
import type { ImportIssue } from './types.ts';

export interface DocxParagraph {
  style: 'heading' | 'list' | 'paragraph';
  /** Heading: 1-9 (0 for a Title). List item: nesting depth from 1. Paragraph: 0. */
  level: number;
  /** The paragraph's text; tabs kept as `\t`, line breaks inside the paragraph as `\n`. */
  text: string;
}

/** Paragraphs in reading order (table cells included), empty paragraphs left out. */
export type DocxResult = { paragraphs: DocxParagraph[] } | { error: ImportIssue };

/** The part of mammoth's document tree we read (mammoth types it as `any`). */
interface DocNode {
  type: string;
  children?: DocNode[];
  value?: string;
  styleId?: string | null;
  styleName?: string | null;
  numbering?: { level?: string; isOrdered?: boolean } | null;
}

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
const EMPTY_ZIP_MAGIC = [0x50, 0x4b, 0x05, 0x06];
// Word saves a password-protected .docx as an encrypted OLE compound file, the same container as
// an old .doc: both start with these bytes, and neither can be read without Word.
const OLE_MAGIC = [0xd0, 0xcf, 0x11, 0xe0];

function startsWith(bytes: Uint8Array, magic: number[]): boolean {
  return magic.every((b, i) => bytes[i] === b);
}

function fail(file: string, message: string): { error: ImportIssue } {
  return { error: { file, line: null, field: null, message } };
}

export async function readDocx(file: string): Promise<DocxResult> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    return fail(file, `cannot read the file: ${errorMessage(err)}`);
  }
  if (bytes.length === 0) return fail(file, 'the file is empty; expected a Word .docx document');
  if (startsWith(bytes, OLE_MAGIC)) {
    return fail(
      file,
      'the file is password-protected or an old Word 97-2003 .doc; expected a .docx without a password (open it in Word, remove the password and save as .docx)',
    );
  }
  if (startsWith(bytes, EMPTY_ZIP_MAGIC))
    return fail(file, 'the zip archive is empty; expected a Word .docx document');
  if (!startsWith(bytes, ZIP_MAGIC)) {
    return fail(file, 'not a .docx: a Word document is a zip archive and this file is not one');
  }

  let root = null as DocNode | null;
  try {
    await mammoth.convertToHtml(
      { buffer: bytes },
      {
        transformDocument: (doc: DocNode) => {
          root = doc;
          return doc;
        },
      },
    );
  } catch (err) {
    return fail(
      file,
      `not a readable .docx (expected word/document.xml inside the zip): ${errorMessage(err)}`,
    );
  }
  if (!root) return fail(file, 'not a readable .docx: no document body found');

  const all: DocxParagraph[] = [];
  collectParagraphs(root, all);
  const paragraphs = all.filter((p) => p.text !== '');
  if (paragraphs.length === 0) {
    return fail(file, 'the document is empty; expected paragraphs of text');
  }
  return { paragraphs };
}

/** Paragraphs in reading order, including those inside table cells. */
function collectParagraphs(node: DocNode, out: DocxParagraph[]): void {
  for (const child of node.children ?? []) {
    if (child.type === 'paragraph') out.push(toParagraph(child));
    else if (child.type === 'table' || child.type === 'tableRow' || child.type === 'tableCell') {
      collectParagraphs(child, out);
    }
  }
}

function toParagraph(p: DocNode): DocxParagraph {
  const text = textOf(p)
    .replace(/[ \u00a0]+\n/g, '\n')
    .trim();
  const name = (p.styleName ?? '').trim();
  const id = (p.styleId ?? '').trim();
  const heading = /^heading\s*(\d)$/i.exec(name) ?? /^heading(\d)$/i.exec(id);
  if (heading) return { style: 'heading', level: Number(heading[1]), text };
  if (/^(title|subtitle)$/i.test(name) || /^(title|subtitle)$/i.test(id)) {
    return { style: 'heading', level: 0, text };
  }
  if (p.numbering) {
    const level = Number.parseInt(p.numbering.level ?? '0', 10);
    return { style: 'list', level: (Number.isFinite(level) ? level : 0) + 1, text };
  }
  // "List Bullet 2", "List Paragraph" without numbering: a list item by style alone.
  const listStyle = /^list\b(?:.*?(\d))?/i.exec(name) ?? /^list\w*?(\d)?$/i.exec(id);
  if (listStyle) return { style: 'list', level: listStyle[1] ? Number(listStyle[1]) : 1, text };
  return { style: 'paragraph', level: 0, text };
}

function textOf(node: DocNode): string {
  switch (node.type) {
    case 'text':
      return node.value ?? '';
    case 'tab':
      return '\t';
    case 'break':
      return '\n';
    case 'run':
    case 'hyperlink':
    case 'paragraph':
      return (node.children ?? []).map(textOf).join('');
    default:
      return '';
  }
}
