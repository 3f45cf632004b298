/**
 * Converts a TensorFlow.js graph model (model.json topology + weights) into an ONNX model held in
 * memory, for onnxruntime. It covers the ops of the graphs Gapmap ships (USE-lite: a sparse
 * front-end, two transformer layers, mean pooling, a tanh layer) and fails loudly on anything else.
 *
 * How it works: nodes are converted lazily from the graph outputs back, so whatever the outputs do
 * not need (or what an input override replaces) is never emitted. Every value carries its dtype
 * and a shape whose dimensions are numbers or symbols (a dimension known only at run time, named
 * after the tensor and axis it can be read from). Integer tensors computed from shapes (Shape,
 * StridedSlice, Pack, Prod, ...) are evaluated here, symbols included, so a Reshape gets a constant
 * target (with 0 = keep this dimension, -1 = infer) and the shape arithmetic of the TF graph
 * disappears; what is fully constant is folded into initializers. Identical ONNX nodes are emitted
 * once.
 *
 * TF.js has no int64 tensors: it reads int64 placeholders and constants as int32. The conversion
 * follows it (TF int64 means int32 here), except for the index tensors that ONNX itself produces as
 * int64 (NonZero), which stay int64 until an op casts them and are widened again for free where
 * ONNX wants int64 indices (GatherND, ScatterND).
 */
import { DataType, graph, model, node, tensor, valueInfo, type AttrValue, type Field } from './onnx-proto.ts';

export const OPSET = 17;

type DType = 'float32' | 'int32' | 'int64' | 'bool';
/** A dimension: a number, or a symbol for a size known only at run time. */
type Dim = number | string;

interface Val {
  dtype: DType;
  shape: Dim[];
  /** The ONNX tensor holding this value at run time, once emitted. */
  name?: string;
  /** An int64 ONNX tensor with the same values (the input of a narrowing Cast). */
  wide?: string;
  /** Elements of an integer (or bool) tensor known at conversion time, row-major; symbols allowed. */
  known?: Dim[];
  /** Elements of a float tensor known at conversion time. */
  data?: Float32Array;
  /** Name for the initializer of a constant. */
  label?: string;
}

export interface TfAttr {
  i?: string | number;
  f?: number;
  b?: boolean;
  /** Bytes: base64 in most model.json files, an array of byte values in some. */
  s?: string | number[];
  type?: string | number;
  list?: { i?: (string | number)[]; s?: string[] };
  shape?: { dim?: { size?: string | number }[]; unknownRank?: boolean };
}
export interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, TfAttr>;
}
export interface TfWeight {
  dtype: 'float32' | 'int32';
  shape: number[];
  data: Float32Array | Int32Array;
}
export interface TfGraph {
  nodes: TfNode[];
  weights: Map<string, TfWeight>;
}

export interface ConvertOptions {
  /**
   * Replace the graph's sparse front-end by a dense input: the tensor the (single) SparseToDense
   * node would build, [batch, length] int32, `default_value` where a row has no piece. The sparse
   * values are then the non-default elements in row-major order, which is what TF requires of a
   * SparseToDense input anyway (validate_indices: sorted, no repeats).
   */
  denseInput?: { name: string; clip?: number };
  /** Name of the (single) output in the ONNX graph. */
  outputName?: string;
  graphName?: string;
}

export interface Converted {
  bytes: Uint8Array;
  inputs: { name: string; dtype: DType; dims: (string | number)[] }[];
  output: string;
  /** With denseInput: the value that marks padding (the SparseToDense default). */
  pad?: number;
  /** ONNX op counts, for reports and tests. */
  ops: Record<string, number>;
}

const TF_DTYPE: Record<string, DType> = {
  '1': 'float32',
  DT_FLOAT: 'float32',
  '3': 'int32',
  DT_INT32: 'int32',
  // TF.js semantics: int64 tensors are int32.
  '9': 'int32',
  DT_INT64: 'int32',
  '10': 'bool',
  DT_BOOL: 'bool',
};
const ONNX_TYPE: Record<DType, number> = {
  float32: DataType.FLOAT,
  int32: DataType.INT32,
  int64: DataType.INT64,
  bool: DataType.BOOL,
};
/** "Until the end" for Slice ends; ONNX clamps it. */
const END = Number.MAX_SAFE_INTEGER;

class ConvertError extends Error {}
function fail(msg: string): never {
  throw new ConvertError(msg);
}

const isNum = (d: Dim): d is number => typeof d === 'number';
const allNum = (ds: Dim[]): ds is number[] => ds.every(isNum);
const product = (ds: number[]) => ds.reduce((a, b) => a * b, 1);

/** Emits ONNX nodes and initializers; identical nodes and constants are emitted once. */
class Emitter {
  readonly nodes: Field[][] = [];
  readonly initializers: Field[][] = [];
  readonly ops: Record<string, number> = {};
  private readonly memo = new Map<string, string[]>();
  private readonly consts = new Map<string, string>();
  private readonly weights = new WeakMap<object, Map<string, string>>();
  private readonly used = new Set<string>();
  private readonly symbols = new Map<string, { tensor: string; axis: number }>();

  unique(hint: string): string {
    let name = hint;
    for (let i = 1; this.used.has(name); i++) name = `${hint}_${i}`;
    this.used.add(name);
    return name;
  }

  op(
    type: string,
    inputs: string[],
    attrs: Record<string, AttrValue> = {},
    opts: { outputs?: number; hint?: string } = {},
  ): string[] {
    const key = JSON.stringify([type, inputs, attrs, opts.outputs ?? 1]);
    const hit = this.memo.get(key);
    if (hit) return hit;
    const base = opts.hint ?? `${inputs[0] ?? 'const'}/${type}`;
    const outs = Array.from({ length: opts.outputs ?? 1 }, (_, i) => this.unique(i ? `${base}:${i}` : base));
    this.nodes.push(node(type, inputs, outs, attrs, { name: this.unique(`node:${outs[0]}`) }));
    this.ops[type] = (this.ops[type] ?? 0) + 1;
    this.memo.set(key, outs);
    return outs;
  }
  op1(type: string, inputs: string[], attrs: Record<string, AttrValue> = {}, hint?: string): string {
    return this.op(type, inputs, attrs, { hint })[0]!;
  }

  /** An initializer; small ones are shared by content, large ones (weights) by name. */
  constant(dtype: DType, dims: number[], values: ArrayLike<number>, hint: string): string {
    const small = values.length <= 64;
    const key = small
      ? `${dtype}|${dims.join(',')}|${Array.from(values).join(',')}`
      : `${dtype}|${dims.join(',')}`;
    let table = this.consts;
    if (!small) {
      table = this.weights.get(values as object) ?? new Map<string, string>();
      this.weights.set(values as object, table);
    }
    const hit = table.get(key);
    if (hit) return hit;
    const name = this.unique(small ? `const/${dtype}/${Array.from(values).slice(0, 8).join('_')}` : hint);
    let raw: Float32Array | Int32Array | BigInt64Array | Uint8Array;
    if (dtype === 'float32') raw = values instanceof Float32Array ? values : Float32Array.from(values);
    else if (dtype === 'int32') raw = Int32Array.from(values);
    else if (dtype === 'int64') raw = BigInt64Array.from(Array.from(values, (v) => BigInt(v)));
    else raw = Uint8Array.from(values, (v) => (v ? 1 : 0));
    this.initializers.push(tensor(name, dims, raw, ONNX_TYPE[dtype] as 1 | 6 | 7 | 9));
    table.set(key, name);
    return name;
  }
  int64s(values: number[], dims = [values.length]): string {
    return this.constant('int64', dims, values, 'const');
  }

  /** A symbol for dimension `axis` of ONNX tensor `tensorName`. */
  symbol(tensorName: string, axis: number): string {
    const s = `${tensorName}#${axis}`;
    this.symbols.set(s, { tensor: tensorName, axis });
    return s;
  }
  /** A 1-D int64 tensor of dimensions, read from the graph at run time where they are symbols. */
  dims(ds: Dim[]): string {
    if (allNum(ds)) return this.int64s(ds);
    const parts: string[] = [];
    let run: number[] = [];
    for (let i = 0; i < ds.length; i++) {
      const d = ds[i]!;
      if (isNum(d)) {
        run.push(d);
        continue;
      }
      if (run.length) parts.push(this.int64s(run));
      run = [];
      const src = this.symbols.get(d) ?? fail(`unknown dimension symbol ${d}`);
      // Neighbouring dimensions of the same tensor come from one Shape.
      let end = src.axis + 1;
      while (i + 1 < ds.length) {
        const next = this.symbols.get(String(ds[i + 1]));
        if (!next || next.tensor !== src.tensor || next.axis !== end) break;
        end++;
        i++;
      }
      parts.push(this.op1('Shape', [src.tensor], { start: src.axis, end }));
    }
    if (run.length) parts.push(this.int64s(run));
    return parts.length === 1 ? parts[0]! : this.op1('Concat', parts, { axis: 0 });
  }
}

const attrInt = (n: TfNode, key: string, dflt?: number): number => {
  const a = n.attr?.[key];
  if (a?.i !== undefined) return Number(a.i);
  if (dflt !== undefined) return dflt;
  return fail(`${n.op} ${n.name}: missing attribute ${key}`);
};
const attrBool = (n: TfNode, key: string): boolean => n.attr?.[key]?.b === true;
const attrInts = (n: TfNode, key: string): number[] => (n.attr?.[key]?.list?.i ?? []).map(Number);
const attrType = (n: TfNode, key: string): DType => {
  const t = n.attr?.[key]?.type;
  return TF_DTYPE[String(t)] ?? fail(`${n.op} ${n.name}: unsupported dtype ${String(t)} in ${key}`);
};
const attrStr = (n: TfNode, key: string): string | undefined => {
  const s = n.attr?.[key]?.s;
  if (s === undefined) return undefined;
  return (typeof s === 'string' ? Buffer.from(s, 'base64') : Buffer.from(s)).toString('utf8');
};

/** Broadcast shapes (numpy rules); a mismatch of two symbols becomes a fresh symbol. */
function broadcast(a: Dim[], b: Dim[], fresh: (axis: number) => string): Dim[] {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x === y || y === 1) out.push(x);
    else if (x === 1) out.push(y);
    else if (isNum(x) && !isNum(y)) out.push(x);
    else if (isNum(y) && !isNum(x)) out.push(y);
    else if (isNum(x) && isNum(y)) fail(`shapes [${a.join(',')}] and [${b.join(',')}] do not broadcast`);
    else out.push(fresh(i));
  }
  return out;
}

/** Element-wise with broadcasting over numeric constants. */
function foldBinary(a: Val, b: Val, f: (x: number, y: number) => number): number[] | undefined {
  const av = a.data ?? a.known;
  const bv = b.data ?? b.known;
  if (!av || !bv || !allNum(a.shape) || !allNum(b.shape)) return undefined;
  if (!Array.prototype.every.call(av, isNum) || !Array.prototype.every.call(bv, isNum)) return undefined;
  const shape = broadcast(a.shape, b.shape, () => fail('unreachable')) as number[];
  const total = product(shape);
  const strides = (s: number[]) => {
    const padded = [...Array(shape.length - s.length).fill(1), ...s] as number[];
    const st: number[] = new Array(shape.length).fill(0);
    let acc = 1;
    for (let i = shape.length - 1; i >= 0; i--) {
      st[i] = padded[i] === 1 ? 0 : acc;
      acc *= padded[i]!;
    }
    return st;
  };
  const sa = strides(a.shape);
  const sb = strides(b.shape);
  const out: number[] = new Array(total);
  for (let k = 0; k < total; k++) {
    let rem = k;
    let ia = 0;
    let ib = 0;
    for (let i = shape.length - 1; i >= 0; i--) {
      const d = shape[i]!;
      const c = rem % d;
      rem = (rem - c) / d;
      ia += c * sa[i]!;
      ib += c * sb[i]!;
    }
    out[k] = f(av[ia] as number, bv[ib] as number);
  }
  return out;
}

const BINARY: Record<string, { onnx: string; f: (x: number, y: number) => number; bool?: boolean }> = {
  Add: { onnx: 'Add', f: (x, y) => x + y },
  AddV2: { onnx: 'Add', f: (x, y) => x + y },
  BiasAdd: { onnx: 'Add', f: (x, y) => x + y },
  Sub: { onnx: 'Sub', f: (x, y) => x - y },
  Mul: { onnx: 'Mul', f: (x, y) => x * y },
  RealDiv: { onnx: 'Div', f: (x, y) => x / y },
  Maximum: { onnx: 'Max', f: Math.max },
  Minimum: { onnx: 'Min', f: Math.min },
  Less: { onnx: 'Less', f: (x, y) => Number(x < y), bool: true },
  Greater: { onnx: 'Greater', f: (x, y) => Number(x > y), bool: true },
  Equal: { onnx: 'Equal', f: (x, y) => Number(x === y), bool: true },
  LogicalAnd: { onnx: 'And', f: (x, y) => Number(x && y), bool: true },
};
const UNARY: Record<string, { onnx: string[]; f: (x: number) => number }> = {
  Sin: { onnx: ['Sin'], f: Math.sin },
  Cos: { onnx: ['Cos'], f: Math.cos },
  Tanh: { onnx: ['Tanh'], f: Math.tanh },
  Relu: { onnx: ['Relu'], f: (x) => Math.max(0, x) },
  Sqrt: { onnx: ['Sqrt'], f: Math.sqrt },
  Rsqrt: { onnx: ['Sqrt', 'Reciprocal'], f: (x) => 1 / Math.sqrt(x) },
  Exp: { onnx: ['Exp'], f: Math.exp },
  Neg: { onnx: ['Neg'], f: (x) => -x },
  LogicalNot: { onnx: ['Not'], f: (x) => Number(!x) },
};

export function convertTfGraph(g: TfGraph, opts: ConvertOptions = {}): Converted {
  const e = new Emitter();
  const byName = new Map(g.nodes.map((n) => [n.name, n]));
  const values = new Map<string, Val>();
  const overrides = new Map<string, () => Val>();
  let pad: number | undefined;
  const inputs: Converted['inputs'] = [];
  const inputInfos: Field[][] = [];

  /** The ONNX tensor for a value, emitting constants and casts as needed. */
  function rt(v: Val, want?: DType): string {
    const dtype = want ?? v.dtype;
    if (v.name !== undefined) {
      if (dtype === v.dtype) return v.name;
      if (dtype === 'int64' && v.wide) return v.wide;
      return e.op1('Cast', [v.name], { to: ONNX_TYPE[dtype] });
    }
    if (v.data) {
      if (dtype !== 'float32') fail('float constant used as an integer');
      return e.constant('float32', v.shape as number[], v.data, v.label ?? 'const');
    }
    const known = v.known ?? fail('value has neither a tensor nor known elements');
    if (!allNum(v.shape)) fail('constant with a symbolic shape');
    if (allNum(known)) return e.constant(dtype, v.shape as number[], known, 'const');
    if (v.shape.length > 1) fail('symbolic constant of rank > 1');
    let t = e.dims(known);
    if (v.shape.length === 0) t = e.op1('Squeeze', [t, e.int64s([0])]);
    return dtype === 'int64' ? t : e.op1('Cast', [t], { to: ONNX_TYPE[dtype] });
  }
  const staticInts = (v: Val, what: string): Dim[] =>
    v.known ?? fail(`${what} must be known at conversion time`);
  const staticNums = (v: Val, what: string): number[] => {
    const k = staticInts(v, what);
    return allNum(k) ? k : fail(`${what} must be numbers`);
  };
  const axisOf = (a: number, rank: number) => (a < 0 ? a + rank : a);
  /** A shape operand as an int64 ONNX tensor: built from its known dims, or the computed tensor. */
  const shapeTensor = (v: Val) => (v.known ? e.dims(v.known) : rt(v, 'int64'));
  /** The dims of a tensor created with shape operand v: known ones, else read from the output. */
  const shapeOf = (v: Val, out: string): Dim[] => {
    if (v.known) return [...v.known];
    const rank = v.shape[0] ?? 0;
    return isNum(rank)
      ? Array.from({ length: rank }, (_, i) => e.symbol(out, i))
      : fail('shape of unknown rank');
  };
  const runtime = (dtype: DType, shape: Dim[], name: string): Val => ({ dtype, shape, name });

  function get(ref: string): Val {
    if (ref.startsWith('^')) fail(`control dependency ${ref} is not supported`);
    const hit = values.get(ref);
    if (hit) return hit;
    const override = overrides.get(ref);
    if (override) {
      const v = override();
      values.set(ref, v);
      return v;
    }
    const [nodeName, idx] = ref.includes(':')
      ? [ref.slice(0, ref.lastIndexOf(':')), ref.slice(ref.lastIndexOf(':') + 1)]
      : [ref, '0'];
    const n = byName.get(nodeName) ?? fail(`graph has no node ${nodeName}`);
    const outs = convertNode(n);
    outs.forEach((v, i) => values.set(i === 0 ? n.name : `${n.name}:${i}`, v));
    return outs[Number(idx)] ?? fail(`${n.op} ${n.name} has no output ${idx}`);
  }

  function convertNode(n: TfNode): Val[] {
    const ins = (n.input ?? []).filter((i) => !i.startsWith('^')).map(get);
    const x = ins[0]!;
    const hint = n.name;
    const op = n.op;

    if (op === 'Const') {
      const w = g.weights.get(n.name) ?? fail(`no weights for constant ${n.name}`);
      return [
        w.dtype === 'float32'
          ? { dtype: 'float32', shape: w.shape, data: w.data as Float32Array, label: n.name }
          : { dtype: 'int32', shape: w.shape, known: Array.from(w.data) },
      ];
    }
    if (op === 'Placeholder') {
      const dtype = attrType(n, 'dtype');
      const dims = (n.attr?.shape?.shape?.dim ?? []).map((d, i): Dim => {
        const size = Number(d.size ?? -1);
        return size >= 0 ? size : `${n.name}_${i}`;
      });
      const name = e.unique(n.name);
      inputs.push({ name, dtype, dims });
      inputInfos.push(valueInfo(name, ONNX_TYPE[dtype], dims));
      return [
        runtime(
          dtype,
          dims.map((d, i) => (isNum(d) ? d : e.symbol(name, i))),
          name,
        ),
      ];
    }
    if (op === 'Identity') return [x];

    const bin = BINARY[op];
    if (bin) {
      let [a, b] = [x, ins[1]!];
      if (op === 'BiasAdd' && (attrStr(n, 'data_format') ?? 'NHWC') !== 'NHWC')
        fail(`BiasAdd ${n.name}: only NHWC`);
      const dtype: DType = bin.bool ? 'bool' : a.dtype === 'int64' ? b.dtype : a.dtype;
      const folded = foldBinary(a, b, bin.f);
      if (folded) {
        const shape = broadcast(a.shape, b.shape, () => fail('unreachable'));
        const f32 = dtype === 'float32';
        return [
          f32
            ? { dtype, shape, data: Float32Array.from(folded) }
            : { dtype, shape, known: folded.map((v) => (dtype === 'int32' ? Math.trunc(v) : v)) },
        ];
      }
      // int32 / int64 mixes come from TF int64 tensors that ONNX keeps as int64.
      if (a.dtype !== b.dtype) {
        const common = a.dtype === 'int64' ? b.dtype : a.dtype;
        a = { ...a, name: rt(a, common), dtype: common };
        b = { ...b, name: rt(b, common), dtype: common };
      }
      const out = e.op1(bin.onnx, [rt(a), rt(b)], {}, hint);
      return [
        runtime(
          dtype,
          broadcast(a.shape, b.shape, (i) => e.symbol(out, i)),
          out,
        ),
      ];
    }

    const un = UNARY[op];
    if (un || op === 'Square') {
      if (x.data || (x.known && allNum(x.known))) {
        const src = Array.from((x.data ?? x.known) as ArrayLike<number>);
        const f = un ? un.f : (v: number) => v * v;
        const vals = src.map(f);
        return [x.dtype === 'float32' ? { ...x, data: Float32Array.from(vals) } : { ...x, known: vals }];
      }
      let t = rt(x);
      if (op === 'Square') t = e.op1('Mul', [t, t], {}, hint);
      else for (const o of un!.onnx) t = e.op1(o, [t], {}, hint);
      return [runtime(x.dtype, x.shape, t)];
    }

    switch (op) {
      case 'Softmax':
        return [runtime(x.dtype, x.shape, e.op1('Softmax', [rt(x)], { axis: -1 }, hint))];

      case 'Cast': {
        const to = attrType(n, 'DstT');
        if (x.data || x.known) {
          const src = Array.from((x.data ?? x.known) as ArrayLike<Dim>);
          if (to === 'float32') {
            if (!allNum(src)) fail(`Cast ${n.name}: symbolic value to float`);
            return [{ dtype: to, shape: x.shape, data: Float32Array.from(src) }];
          }
          const conv = src.map((v) => (isNum(v) ? (to === 'bool' ? Number(v !== 0) : Math.trunc(v)) : v));
          return [{ dtype: to, shape: x.shape, known: conv }];
        }
        if (to === x.dtype) return [x];
        const out = e.op1('Cast', [rt(x)], { to: ONNX_TYPE[to] }, hint);
        return [{ ...runtime(to, x.shape, out), wide: x.dtype === 'int64' ? x.name : x.wide }];
      }

      case 'Shape':
        return [{ dtype: 'int32', shape: [x.shape.length], known: [...x.shape] }];

      case 'StridedSlice': {
        const [begin, end, strides] = [1, 2, 3].map((i) =>
          staticNums(ins[i]!, `${n.name} begin/end/strides`),
        );
        if (attrInt(n, 'ellipsis_mask', 0) || attrInt(n, 'new_axis_mask', 0))
          fail(`StridedSlice ${n.name}: ellipsis and new axes are not supported`);
        const bm = attrInt(n, 'begin_mask', 0);
        const em = attrInt(n, 'end_mask', 0);
        const sm = attrInt(n, 'shrink_axis_mask', 0);
        const rank = x.shape.length;
        const starts: number[] = [];
        const ends: number[] = [];
        const shrink: number[] = [];
        for (let i = 0; i < begin!.length; i++) {
          const step = strides![i]!;
          if (step !== 1) fail(`StridedSlice ${n.name}: only stride 1`);
          let b = bm & (1 << i) ? 0 : begin![i]!;
          let en = em & (1 << i) ? END : end![i]!;
          if (sm & (1 << i)) {
            b = begin![i]!;
            en = b === -1 ? END : b + 1;
            shrink.push(i);
          }
          starts.push(b);
          ends.push(en);
        }
        return [slice(n, x, starts, ends, shrink, rank)];
      }

      case 'Slice': {
        const begin = staticNums(ins[1]!, `${n.name} begin`);
        const size = staticNums(ins[2]!, `${n.name} size`);
        return [
          slice(
            n,
            x,
            begin,
            begin.map((b, i) => (size[i] === -1 ? END : b + size[i]!)),
            [],
            x.shape.length,
          ),
        ];
      }

      case 'GatherV2': {
        const axis = axisOf(staticNums(ins[2]!, `${n.name} axis`)[0]!, x.shape.length);
        if (attrInt(n, 'batch_dims', 0) !== 0) fail(`GatherV2 ${n.name}: batch_dims`);
        const idx = ins[1]!;
        const shape = [...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)];
        if (x.known && x.shape.length === 1 && idx.known && allNum(idx.known)) {
          const k = x.known;
          return [{ dtype: x.dtype, shape, known: idx.known.map((i) => k[i < 0 ? i + k.length : i]!) }];
        }
        return [runtime(x.dtype, shape, e.op1('Gather', [rt(x), rt(idx)], { axis }, hint))];
      }

      case 'Max':
      case 'Min':
      case 'Sum':
      case 'Mean':
      case 'Prod': {
        const axes = staticNums(ins[1]!, `${n.name} axes`).map((a) => axisOf(a, x.shape.length));
        const keep = attrBool(n, 'keep_dims');
        const shape = x.shape.flatMap((d, i) => (axes.includes(i) ? (keep ? [1] : []) : [d]));
        if (x.known && x.shape.length === 1 && axes.length === 1) {
          const k = x.known;
          let r: Dim | undefined;
          if (allNum(k)) {
            const sum = k.reduce((a, b) => a + b, 0);
            r =
              op === 'Max'
                ? Math.max(...k)
                : op === 'Min'
                  ? Math.min(...k)
                  : op === 'Prod'
                    ? product(k)
                    : op === 'Sum'
                      ? sum
                      : Math.trunc(sum / k.length);
          } else if (op === 'Prod') {
            // A product of one symbol and ones (a flattened size) is that symbol.
            const syms = k.filter((d) => !isNum(d));
            const rest = product(k.filter(isNum));
            if (syms.length === 1 && rest === 1) r = syms[0];
          }
          if (r !== undefined) return [{ dtype: x.dtype, shape, known: [r] }];
        }
        const onnxOp = {
          Max: 'ReduceMax',
          Min: 'ReduceMin',
          Sum: 'ReduceSum',
          Mean: 'ReduceMean',
          Prod: 'ReduceProd',
        }[op];
        const out =
          op === 'Sum'
            ? e.op1(onnxOp, [rt(x), e.int64s(axes)], { keepdims: keep ? 1 : 0 }, hint)
            : e.op1(onnxOp, [rt(x)], { axes, keepdims: keep ? 1 : 0 }, hint);
        return [runtime(x.dtype, shape, out)];
      }

      case 'ExpandDims': {
        const d = staticNums(ins[1]!, `${n.name} dim`)[0]!;
        const axis = d < 0 ? d + x.shape.length + 1 : d;
        const shape = [...x.shape.slice(0, axis), 1, ...x.shape.slice(axis)];
        if (x.known || x.data) return [{ ...x, shape }];
        return [runtime(x.dtype, shape, e.op1('Unsqueeze', [rt(x), e.int64s([axis])], {}, hint))];
      }

      case 'Squeeze': {
        let axes = attrInts(n, 'squeeze_dims').map((a) => axisOf(a, x.shape.length));
        if (axes.length === 0) axes = x.shape.flatMap((d, i) => (d === 1 ? [i] : []));
        for (const a of axes) if (x.shape[a] !== 1) fail(`Squeeze ${n.name}: axis ${a} is not known to be 1`);
        const shape = x.shape.filter((_, i) => !axes.includes(i));
        if (x.known || x.data) return [{ ...x, shape }];
        return [runtime(x.dtype, shape, e.op1('Squeeze', [rt(x), e.int64s(axes)], {}, hint))];
      }

      case 'Reshape':
        return [reshape(n, x, staticInts(ins[1]!, `${n.name} shape`))];

      case 'Pack': {
        const axis = attrInt(n, 'axis', 0);
        if (ins.every((v) => v.known && v.shape.length === 0) && axis === 0)
          return [{ dtype: x.dtype, shape: [ins.length], known: ins.map((v) => v.known![0]!) }];
        const a = axisOf(axis, x.shape.length + 1);
        const parts = ins.map((v) => e.op1('Unsqueeze', [rt(v, x.dtype), e.int64s([a])]));
        const shape = [...x.shape.slice(0, a), ins.length, ...x.shape.slice(a)];
        return [runtime(x.dtype, shape, e.op1('Concat', parts, { axis: a }, hint))];
      }

      case 'ConcatV2': {
        const parts = ins.slice(0, -1);
        const axis = axisOf(staticNums(ins[ins.length - 1]!, `${n.name} axis`)[0]!, x.shape.length);
        const dims = parts.map((v) => v.shape[axis]!);
        const shape = [...x.shape];
        shape[axis] = allNum(dims) ? dims.reduce((a, b) => a + b, 0) : '?';
        if (parts.every((v) => v.known) && x.shape.length === 1)
          return [{ dtype: x.dtype, shape, known: parts.flatMap((v) => v.known!) }];
        if (parts.every((v) => v.data) && x.shape.length === 1)
          return [
            { dtype: x.dtype, shape, data: Float32Array.from(parts.flatMap((v) => Array.from(v.data!))) },
          ];
        const out = e.op1(
          'Concat',
          parts.map((v) => rt(v, x.dtype)),
          { axis },
          hint,
        );
        if (shape[axis] === '?') shape[axis] = e.symbol(out, axis);
        return [runtime(x.dtype, shape, out)];
      }

      case 'Transpose': {
        const perm = staticNums(ins[1]!, `${n.name} perm`);
        const shape = perm.map((p) => x.shape[p]!);
        if (x.shape.length <= 1 && (x.known || x.data)) return [x];
        return [runtime(x.dtype, shape, e.op1('Transpose', [rt(x)], { perm }, hint))];
      }

      case 'MatMul':
      case 'BatchMatMul':
      case 'BatchMatMulV2': {
        const batched = op !== 'MatMul';
        const ta = attrBool(n, batched ? 'adj_x' : 'transpose_a');
        const tb = attrBool(n, batched ? 'adj_y' : 'transpose_b');
        const operand = (v: Val, t: boolean) => {
          const r = v.shape.length;
          if (!t) return { name: rt(v), shape: v.shape };
          const shape = [...v.shape.slice(0, -2), v.shape[r - 1]!, v.shape[r - 2]!];
          if (v.data && r === 2 && allNum(v.shape)) {
            const [rows, cols] = v.shape as number[];
            const d = new Float32Array(v.data.length);
            for (let i = 0; i < rows!; i++)
              for (let j = 0; j < cols!; j++) d[j * rows! + i] = v.data[i * cols! + j]!;
            return { name: e.constant('float32', shape as number[], d, `${n.name}/transposed`), shape };
          }
          const perm = [...Array(r - 2).keys(), r - 1, r - 2];
          return { name: e.op1('Transpose', [rt(v)], { perm }), shape };
        };
        const a = operand(x, ta);
        const b = operand(ins[1]!, tb);
        const out = e.op1('MatMul', [a.name, b.name], {}, hint);
        const batch = broadcast(a.shape.slice(0, -2), b.shape.slice(0, -2), (i) => e.symbol(out, i));
        return [
          runtime('float32', [...batch, a.shape[a.shape.length - 2]!, b.shape[b.shape.length - 1]!], out),
        ];
      }

      case 'Conv2D': {
        // A 1x1 convolution over NHWC is a MatMul over the channel axis.
        const k = ins[1]!;
        const ks = k.shape;
        const ones = (key: string) => attrInts(n, key).every((v) => v === 1);
        if (!k.data || ks.length !== 4 || ks[0] !== 1 || ks[1] !== 1)
          fail(`Conv2D ${n.name}: only constant 1x1 kernels`);
        if ((attrStr(n, 'data_format') ?? 'NHWC') !== 'NHWC' || !ones('strides') || !ones('dilations'))
          fail(`Conv2D ${n.name}: only NHWC, stride 1, dilation 1`);
        const [cin, cout] = [ks[2] as number, ks[3] as number];
        const w = e.constant('float32', [cin, cout], k.data!, `${ins.length ? n.input![1]! : n.name}`);
        const out = e.op1('MatMul', [rt(x), w], {}, hint);
        return [runtime('float32', [...x.shape.slice(0, -1), cout], out)];
      }

      case 'SplitV': {
        const sizes = staticNums(ins[1]!, `${n.name} size_splits`);
        const axis = axisOf(staticNums(ins[2]!, `${n.name} axis`)[0]!, x.shape.length);
        const dim = x.shape[axis]!;
        if (sizes.includes(-1)) {
          if (!isNum(dim)) fail(`SplitV ${n.name}: -1 size over a symbolic axis`);
          sizes[sizes.indexOf(-1)] = dim - sizes.filter((s) => s !== -1).reduce((a, b) => a + b, 0);
        }
        const outs = e.op('Split', [rt(x), e.int64s(sizes)], { axis }, { outputs: sizes.length, hint });
        return outs.map((o, i) => {
          const shape = [...x.shape];
          shape[axis] = sizes[i]!;
          return runtime(x.dtype, shape, o);
        });
      }

      case 'Where': {
        if (ins.length !== 1) fail(`Where ${n.name}: only the one-input form (indices of true elements)`);
        const nz = e.op1('NonZero', [rt(x)], {}, `${hint}/nonzero`);
        const out = e.op1('Transpose', [nz], { perm: [1, 0] }, hint);
        return [runtime('int64', [e.symbol(out, 0), x.shape.length], out)];
      }

      case 'GatherNd': {
        const idx = ins[1]!;
        const k = idx.shape[idx.shape.length - 1] ?? 0;
        if (!isNum(k)) fail(`GatherNd ${n.name}: index depth must be known`);
        const shape = [...idx.shape.slice(0, -1), ...x.shape.slice(k)];
        return [runtime(x.dtype, shape, e.op1('GatherND', [rt(x), rt(idx, 'int64')], {}, hint))];
      }

      case 'ScatterNd': {
        const [idx, upd, shapeVal] = ins as [Val, Val, Val];
        const zero = {
          tensor: tensor(
            'zero',
            [1],
            upd.dtype === 'float32' ? new Float32Array(1) : new Int32Array(1),
            ONNX_TYPE[upd.dtype] as 1 | 6,
          ),
        };
        const data = e.op1('ConstantOfShape', [shapeTensor(shapeVal)], { value: zero });
        const out = e.op1('ScatterND', [data, rt(idx, 'int64'), rt(upd)], {}, hint);
        return [runtime(upd.dtype, shapeOf(shapeVal, out), out)];
      }

      case 'SparseToDense': {
        const [idx, shapeVal, vals, dflt] = ins as [Val, Val, Val, Val];
        const base = e.op1('Expand', [rt(dflt, vals.dtype), shapeTensor(shapeVal)]);
        const out = e.op1('ScatterND', [base, rt(idx, 'int64'), rt(vals)], {}, hint);
        return [runtime(vals.dtype, shapeOf(shapeVal, out), out)];
      }

      case 'Range': {
        const [start, limit, delta] = ins as [Val, Val, Val];
        const dtype = start.dtype;
        const s = start.known?.[0];
        const l = limit.known?.[0];
        const d = delta.known?.[0];
        if (isNum(s ?? '') && isNum(l ?? '') && isNum(d ?? '')) {
          const out: number[] = [];
          for (
            let v = s as number;
            (d as number) > 0 ? v < (l as number) : v > (l as number);
            v += d as number
          )
            out.push(v);
          return [{ dtype, shape: [out.length], known: out }];
        }
        const name = e.op1('Range', [rt(start), rt(limit), rt(delta)], {}, hint);
        const len = s === 0 && d === 1 && l !== undefined ? l : e.symbol(name, 0);
        return [runtime(dtype, [len], name)];
      }
    }
    return fail(`op ${op} (${n.name}) is not supported by the converter`);
  }

  /** Slicing with constant bounds; shrink lists the axes to drop afterwards. */
  function slice(n: TfNode, x: Val, starts: number[], ends: number[], shrink: number[], rank: number): Val {
    const shape: Dim[] = [...x.shape];
    let exact = true;
    starts.forEach((b, i) => {
      const d = x.shape[i]!;
      const en = ends[i]!;
      if (isNum(d)) {
        const lo = Math.min(Math.max(b < 0 ? b + d : b, 0), d);
        const hi = Math.min(Math.max(en < 0 ? en + d : en, 0), d);
        shape[i] = Math.max(0, hi - lo);
      } else if (b === 0 && en === END) shape[i] = d;
      else if (shrink.includes(i)) shape[i] = 1;
      else exact = false;
    });
    const outShape = shape.filter((_, i) => !shrink.includes(i));
    if (x.known && rank === 1) {
      const d = x.known.length;
      const b = starts[0]!;
      const en = ends[0]!;
      const lo = Math.min(Math.max(b < 0 ? b + d : b, 0), d);
      const hi = Math.min(Math.max(en < 0 ? en + d : en, 0), d);
      return { dtype: x.dtype, shape: outShape, known: x.known.slice(lo, hi) };
    }
    const axes = starts.map((_, i) => i);
    let out = e.op1(
      'Slice',
      [rt(x), e.int64s(starts), e.int64s(ends), e.int64s(axes)],
      {},
      `${n.name}/slice`,
    );
    if (shrink.length) out = e.op1('Squeeze', [out, e.int64s(shrink)], {}, n.name);
    if (!exact) {
      let j = 0;
      shape.forEach((d, i) => {
        if (shrink.includes(i)) return;
        if (!isNum(d) && !(starts[i] === 0 && ends[i] === END)) outShape[j] = e.symbol(out, j);
        j++;
      });
    }
    return runtime(x.dtype, outShape, out);
  }

  function reshape(n: TfNode, x: Val, target: Dim[]): Val {
    if (target.some((d) => d === 0)) fail(`Reshape ${n.name}: zero-sized dimensions are not supported`);
    const total = allNum(x.shape) ? product(x.shape) : undefined;
    const resolved: Dim[] = [...target];
    const minus = target.indexOf(-1);
    if (minus >= 0) {
      const rest = target.filter((d, i) => i !== minus);
      if (total !== undefined && allNum(rest)) resolved[minus] = total / product(rest);
      else {
        // [.., s, ..] -> [.., -1, ..] where the other dims match: -1 is the remaining symbol.
        const xs = x.shape.filter((d) => !rest.includes(d));
        const restNums = rest.filter((d) => !x.shape.includes(d));
        if (xs.length === 1 && !isNum(xs[0]!) && allNum(restNums) && product(restNums) === 1)
          resolved[minus] = xs[0]!;
        else resolved[minus] = '?';
      }
    }
    if (x.known || x.data) {
      if (!allNum(resolved)) fail(`Reshape ${n.name}: constant with symbolic target`);
      return { ...x, shape: resolved };
    }
    // A constant target: numbers, 0 where a symbol is the input's dim at the same index, at most one -1.
    const spec = target.map((d, i) => (isNum(d) ? d : x.shape[i] === d ? 0 : undefined));
    const open = spec.filter((d) => d === undefined || d === -1).length;
    // Otherwise the target is built at run time from the dimensions it names (-1 stays -1).
    const shapeInput = open <= 1 ? e.int64s(spec.map((d) => (d === undefined ? -1 : d))) : e.dims(target);
    const out = e.op1('Reshape', [rt(x), shapeInput], {}, n.name);
    return runtime(
      x.dtype,
      resolved.map((d, i) => (d === '?' ? e.symbol(out, i) : d)),
      out,
    );
  }

  if (opts.denseInput) {
    const sparse = g.nodes.filter((n) => n.op === 'SparseToDense');
    if (sparse.length !== 1) fail(`denseInput needs exactly one SparseToDense node, found ${sparse.length}`);
    const s = sparse[0]!;
    const [idxRef, , valsRef, dfltRef] = s.input!;
    const dense = opts.denseInput;
    let idsVal: Val | undefined;
    const ids = (): Val => {
      if (idsVal) return idsVal;
      const dflt = get(dfltRef!);
      const dtype = dflt.dtype;
      const p = dflt.known?.[0];
      pad = isNum(p ?? '') ? (p as number) : fail(`${s.name}: default value must be a known number`);
      inputs.push({ name: dense.name, dtype, dims: ['batch', 'length'] });
      inputInfos.push(valueInfo(dense.name, ONNX_TYPE[dtype], ['batch', 'length']));
      let name = dense.name;
      let shape: Dim[] = [e.symbol(name, 0), e.symbol(name, 1)];
      if (dense.clip) {
        name = e.op1(
          'Slice',
          [name, e.int64s([0]), e.int64s([dense.clip]), e.int64s([1])],
          {},
          `${dense.name}/clip`,
        );
        shape = [shape[0]!, e.symbol(name, 1)];
      }
      idsVal = runtime(dtype, shape, name);
      return idsVal;
    };
    /** Row-major (row, position) of every element that is not the default value. */
    const present = (): Val => {
      const v = ids();
      const dflt = rt(get(dfltRef!), v.dtype);
      const mask = e.op1('Not', [e.op1('Equal', [v.name!, dflt])]);
      const nz = e.op1('Transpose', [e.op1('NonZero', [mask])], { perm: [1, 0] }, `${s.name}/present`);
      return runtime('int64', [e.symbol(nz, 0), 2], nz);
    };
    overrides.set(s.name, ids);
    overrides.set(idxRef!, present);
    overrides.set(valsRef!, () => {
      const p = present();
      const v = ids();
      return runtime(v.dtype, [p.shape[0]!], e.op1('GatherND', [v.name!, p.name!], {}, `${s.name}/values`));
    });
  }

  const consumed = new Set(
    g.nodes.flatMap((n) => (n.input ?? []).map((i) => i.replace(/^\^/, '').replace(/:\d+$/, ''))),
  );
  const sinks = g.nodes.filter((n) => n.op !== 'Const' && !consumed.has(n.name));
  if (sinks.length !== 1) fail(`expected one graph output, found ${sinks.map((n) => n.name).join(', ')}`);
  const out = get(sinks[0]!.name);
  const outputName = opts.outputName ?? 'output';
  e.op('Identity', [rt(out)], {}, { hint: outputName });
  const dimName = (d: Dim, i: number) => (isNum(d) ? d : d === out.shape[0] ? 'batch' : `d${i}`);
  const onnx = graph({
    name: opts.graphName ?? 'converted',
    nodes: e.nodes,
    initializers: e.initializers,
    inputs: inputInfos,
    outputs: [valueInfo(outputName, ONNX_TYPE[out.dtype], out.shape.map(dimName))],
  });
  return {
    bytes: model(onnx, { opset: OPSET, producer: 'gapmap-tfjs-onnx' }),
    inputs,
    output: outputName,
    pad,
    ops: e.ops,
  };
}

/**
 * Reads a TF.js graph model: model.json and its weight shards (float32 / int32, unquantized). The
 * weights are views into the shard bytes (one shard, 4-byte aligned) or into one copy of them all.
 */
export function tfGraphFromModelJson(
  modelJson: {
    modelTopology: { node: TfNode[] };
    weightsManifest: {
      paths: string[];
      weights: { name: string; shape: number[]; dtype: string; quantization?: unknown }[];
    }[];
  },
  shards: Uint8Array[],
): TfGraph {
  const total = shards.reduce((s, b) => s + b.length, 0);
  let all = shards[0]!;
  if (shards.length !== 1 || all.byteOffset % 4 !== 0) {
    all = new Uint8Array(total);
    let at = 0;
    for (const b of shards) {
      all.set(b, at);
      at += b.length;
    }
  }
  const weights = new Map<string, TfWeight>();
  let off = 0;
  for (const group of modelJson.weightsManifest)
    for (const w of group.weights) {
      if (w.quantization) fail(`quantized weight ${w.name} is not supported`);
      const dtype =
        w.dtype === 'float32' || w.dtype === 'int32'
          ? w.dtype
          : fail(`weight ${w.name}: dtype ${w.dtype} is not supported`);
      const count = product(w.shape);
      // Views into the one buffer: every weight is 4-byte aligned (4-byte dtypes only).
      weights.set(w.name, {
        dtype,
        shape: w.shape,
        data:
          dtype === 'float32'
            ? new Float32Array(all.buffer, all.byteOffset + off, count)
            : new Int32Array(all.buffer, all.byteOffset + off, count),
      });
      off += count * 4;
    }
  if (off !== total) fail(`weights manifest covers ${off} bytes, shards hold ${total}`);
  return { nodes: modelJson.modelTopology.node, weights };
}
