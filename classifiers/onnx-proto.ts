/**
 * A minimal protobuf writer and builders for the ONNX messages Gapmap writes itself (the USE-lite
 * conversion in tfjs-onnx.ts, the tiny test model in test/classifiers-hf.test.ts). Field numbers and
 * enum values are those of onnx.proto; nothing here parses protobuf.
 */

// --- protobuf: varints, fixed32 floats, length-delimited fields ---

/** [field number, wire kind, value]; 'msg' nests a message, 'f32' is a fixed32 float. */
export type Field =
  | [number, 'varint', number]
  | [number, 'f32', number]
  | [number, 'bytes', Uint8Array | string]
  | [number, 'msg', Field[]];

function varint(n: number | bigint): Uint8Array {
  const out: number[] = [];
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n;
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return Uint8Array.from(out);
}

const utf8 = new TextEncoder();

/** Serialises fields into chunks; large byte fields (weights) are referenced, not copied, until the end. */
function write(fields: Field[], chunks: Uint8Array[]): number {
  let size = 0;
  const push = (c: Uint8Array) => {
    chunks.push(c);
    size += c.length;
  };
  for (const [num, kind, value] of fields) {
    if (kind === 'varint') {
      push(varint(num << 3));
      push(varint(value));
    } else if (kind === 'f32') {
      push(varint((num << 3) | 5));
      const b = new Uint8Array(4);
      new DataView(b.buffer).setFloat32(0, value, true);
      push(b);
    } else if (kind === 'msg') {
      const inner: Uint8Array[] = [];
      const n = write(value, inner);
      push(varint((num << 3) | 2));
      push(varint(n));
      for (const c of inner) push(c);
    } else {
      const bytes = typeof value === 'string' ? utf8.encode(value) : value;
      push(varint((num << 3) | 2));
      push(varint(bytes.length));
      push(bytes);
    }
  }
  return size;
}

/** Encodes a message given as fields. */
export function encode(fields: Field[]): Uint8Array {
  const chunks: Uint8Array[] = [];
  const out = new Uint8Array(write(fields, chunks));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

// --- ONNX messages ---

/** TensorProto.DataType */
export const DataType = { FLOAT: 1, INT32: 6, INT64: 7, BOOL: 9 } as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

/** AttributeProto.AttributeType */
const AttrType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** A TensorProto with its values as raw little-endian bytes (float32, int32, int64 or bool). */
export function tensor(
  name: string,
  dims: number[],
  values: Float32Array | Int32Array | BigInt64Array | Uint8Array,
  dataType: DataTypeCode = DataType.FLOAT,
): Field[] {
  return [
    ...dims.map((d): Field => [1, 'varint', d]),
    [2, 'varint', dataType],
    [8, 'bytes', name],
    [9, 'bytes', bytesOf(values)],
  ];
}

/** An int64 tensor from plain numbers (shapes, axes). */
export function int64Tensor(name: string, dims: number[], values: number[]): Field[] {
  return tensor(name, dims, BigInt64Array.from(values.map((v) => BigInt(v))), DataType.INT64);
}

/** ValueInfoProto of a tensor; a string dimension is symbolic (dim_param). */
export function valueInfo(name: string, elemType: number, dims: (string | number)[]): Field[] {
  const dim = (d: string | number): Field => [
    1,
    'msg',
    [typeof d === 'number' ? [1, 'varint', d] : [2, 'bytes', d]],
  ];
  return [
    [1, 'bytes', name],
    [
      2,
      'msg',
      [
        [
          1,
          'msg',
          [
            [1, 'varint', elemType],
            [2, 'msg', dims.map(dim)],
          ],
        ],
      ],
    ],
  ];
}

export type AttrValue =
  number | string | number[] | { float: number } | { floats: number[] } | { tensor: Field[] };

/** AttributeProto: an integer is INT, a string STRING, an array INTS; wrap floats and tensors. */
export function attribute(name: string, value: AttrValue): Field[] {
  const head: Field = [1, 'bytes', name];
  if (typeof value === 'number') return [head, [3, 'varint', value], [20, 'varint', AttrType.INT]];
  if (typeof value === 'string') return [head, [4, 'bytes', value], [20, 'varint', AttrType.STRING]];
  if (Array.isArray(value))
    return [head, ...value.map((v): Field => [8, 'varint', v]), [20, 'varint', AttrType.INTS]];
  if ('float' in value) return [head, [2, 'f32', value.float], [20, 'varint', AttrType.FLOAT]];
  if ('floats' in value)
    return [head, ...value.floats.map((v): Field => [7, 'f32', v]), [20, 'varint', AttrType.FLOATS]];
  return [head, [5, 'msg', value.tensor], [20, 'varint', AttrType.TENSOR]];
}

/** NodeProto; attributes given as a name -> value record. */
export function node(
  op: string,
  inputs: string[],
  outputs: string[],
  attrs: Record<string, AttrValue> = {},
  opts: { name?: string; domain?: string } = {},
): Field[] {
  return [
    ...inputs.map((i): Field => [1, 'bytes', i]),
    ...outputs.map((o): Field => [2, 'bytes', o]),
    [3, 'bytes', opts.name ?? `${op}_${outputs[0]}`],
    [4, 'bytes', op],
    ...Object.entries(attrs).map(([k, v]): Field => [5, 'msg', attribute(k, v)]),
    ...(opts.domain ? [[7, 'bytes', opts.domain] as Field] : []),
  ];
}

/** GraphProto from nodes, initializers (tensor fields) and input/output value infos. */
export function graph(parts: {
  name: string;
  nodes: Field[][];
  initializers?: Field[][];
  inputs: Field[][];
  outputs: Field[][];
}): Field[] {
  return [
    ...parts.nodes.map((n): Field => [1, 'msg', n]),
    [2, 'bytes', parts.name],
    ...(parts.initializers ?? []).map((t): Field => [5, 'msg', t]),
    ...parts.inputs.map((v): Field => [11, 'msg', v]),
    ...parts.outputs.map((v): Field => [12, 'msg', v]),
  ];
}

/** ModelProto bytes: IR version 8 goes with opsets up to 18. */
export function model(
  g: Field[],
  opts: { opset?: number; irVersion?: number; producer?: string } = {},
): Uint8Array {
  return encode([
    [1, 'varint', opts.irVersion ?? 8],
    [2, 'bytes', opts.producer ?? 'gapmap'],
    [7, 'msg', g],
    [
      8,
      'msg',
      [
        [1, 'bytes', ''],
        [2, 'varint', opts.opset ?? 17],
      ],
    ],
  ]);
}
