/**
 * Builds real .docx files for tests: a zip with [Content_Types].xml, the package and document
 * relationships, word/document.xml, word/styles.xml (Title, Heading1-3, ListParagraph) and
 * word/numbering.xml (a bullet list and a numbered list, three levels each), the way Word saves them.
 */
import { writeFile } from 'node:fs/promises';
import JSZip from 'jszip';

export interface Run {
  text: string;
  bold?: boolean;
  italic?: boolean;
}

export type ParagraphSpec =
  | string
  | {
      /** Plain text, or runs with formatting. In text, `\t` becomes a tab and `\n` a line break. */
      text: string | Run[];
      heading?: 1 | 2 | 3;
      title?: boolean;
      /** A list item of a bullet (or numbered) Word list, at this depth from 1. */
      bullet?: number;
      numbered?: number;
    };

const W = 'http://schemas.openxmlformats.org/wordprocessingml/2006/main';

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function runXml(run: Run): string {
  const props = `${run.bold ? '<w:b/>' : ''}${run.italic ? '<w:i/>' : ''}`;
  const content = run.text
    .split(/(\t|\n)/)
    .map((part) => {
      if (part === '\t') return '<w:tab/>';
      if (part === '\n') return '<w:br/>';
      return part ? `<w:t xml:space="preserve">${escapeXml(part)}</w:t>` : '';
    })
    .join('');
  return `<w:r>${props ? `<w:rPr>${props}</w:rPr>` : ''}${content}</w:r>`;
}

function paragraphXml(spec: ParagraphSpec): string {
  const p = typeof spec === 'string' ? { text: spec } : spec;
  const runs = typeof p.text === 'string' ? [{ text: p.text }] : p.text;
  let props = '';
  if (p.title) props = '<w:pStyle w:val="Title"/>';
  else if (p.heading) props = `<w:pStyle w:val="Heading${p.heading}"/>`;
  else if (p.bullet || p.numbered) {
    const numId = p.bullet ? 1 : 2;
    const ilvl = (p.bullet ?? p.numbered ?? 1) - 1;
    props = `<w:pStyle w:val="ListParagraph"/><w:numPr><w:ilvl w:val="${ilvl}"/><w:numId w:val="${numId}"/></w:numPr>`;
  }
  return `<w:p>${props ? `<w:pPr>${props}</w:pPr>` : ''}${runs.map(runXml).join('')}</w:p>`;
}

function documentXml(paragraphs: ParagraphSpec[]): string {
  return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="${W}" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">
<w:body>${paragraphs.map(paragraphXml).join('')}<w:sectPr/></w:body>
</w:document>`;
}

function styleXml(id: string, name: string, extra = ''): string {
  return `<w:style w:type="paragraph" w:styleId="${id}"><w:name w:val="${name}"/><w:basedOn w:val="Normal"/>${extra}</w:style>`;
}

const STYLES = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:styles xmlns:w="${W}">
<w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/></w:style>
${styleXml('Title', 'Title')}
${[1, 2, 3].map((n) => styleXml(`Heading${n}`, `heading ${n}`, `<w:pPr><w:outlineLvl w:val="${n - 1}"/></w:pPr>`)).join('\n')}
${styleXml('ListParagraph', 'List Paragraph', '<w:pPr><w:ind w:left="720"/></w:pPr>')}
</w:styles>`;

function levelsXml(format: 'bullet' | 'decimal'): string {
  return [0, 1, 2]
    .map(
      (ilvl) =>
        `<w:lvl w:ilvl="${ilvl}"><w:start w:val="1"/><w:numFmt w:val="${format}"/><w:lvlText w:val="${
          format === 'bullet' ? '•' : `%${ilvl + 1}.`
        }"/><w:pPr><w:ind w:left="${720 * (ilvl + 1)}" w:hanging="360"/></w:pPr></w:lvl>`,
    )
    .join('');
}

const NUMBERING = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:numbering xmlns:w="${W}">
<w:abstractNum w:abstractNumId="0">${levelsXml('bullet')}</w:abstractNum>
<w:abstractNum w:abstractNumId="1">${levelsXml('decimal')}</w:abstractNum>
<w:num w:numId="1"><w:abstractNumId w:val="0"/></w:num>
<w:num w:numId="2"><w:abstractNumId w:val="1"/></w:num>
</w:numbering>`;

const CONTENT_TYPES = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>
<Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/>
<Override PartName="/word/numbering.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.numbering+xml"/>
</Types>`;

const PACKAGE_RELS = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>
</Relationships>`;

const DOCUMENT_RELS = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>
<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/numbering" Target="numbering.xml"/>
</Relationships>`;

export async function makeDocx(paragraphs: ParagraphSpec[]): Promise<Buffer> {
  const zip = new JSZip();
  zip.file('[Content_Types].xml', CONTENT_TYPES);
  zip.file('_rels/.rels', PACKAGE_RELS);
  zip.file('word/_rels/document.xml.rels', DOCUMENT_RELS);
  zip.file('word/document.xml', documentXml(paragraphs));
  zip.file('word/styles.xml', STYLES);
  zip.file('word/numbering.xml', NUMBERING);
  return zip.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE' });
}

export async function writeDocx(file: string, paragraphs: ParagraphSpec[]): Promise<string> {
  await writeFile(file, await makeDocx(paragraphs));
  return file;
}

/**
 * The first bytes of what Word writes for a password-protected .docx: an OLE compound file
 * (header signature, then the rest of a 512-byte header sector), not a zip.
 */
export function encryptedDocxBytes(): Buffer {
  const header = Buffer.alloc(1024);
  Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]).copy(header, 0);
  header.writeUInt16LE(0x003e, 24); // minor version
  header.writeUInt16LE(0x0003, 26); // major version 3
  header.writeUInt16LE(0xfffe, 28); // little-endian byte order mark
  header.writeUInt16LE(0x0009, 30); // 512-byte sectors
  return header;
}
