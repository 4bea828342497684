// A small CBOR (RFC 8949) decoder for what WebAuthn puts in attestation objects: ints, byte/text strings, arrays, maps, simple values.

export type CborValue = number | bigint | string | Uint8Array | boolean | null | undefined | CborValue[] | Map<CborValue, CborValue>;

/** A decoding failure: the evidence is malformed, which the caller reports as such. */
export class CborError extends Error {
  override name = 'CborError';
}

/** Nesting deeper than WebAuthn structures ever go is refused, so hostile input cannot exhaust the stack. */
const MAX_DEPTH = 16;

/** Decodes one item starting at `offset`; returns it and the offset just past it (authData holds a COSE key followed by extensions). */
export function decodeCbor(bytes: Uint8Array, offset = 0, depth = 0): { value: CborValue; end: number } {
  if (depth > MAX_DEPTH) throw new CborError('CBOR nested too deeply');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (count: number): void => {
    if (offset + count > bytes.length) throw new CborError('CBOR item runs past the end');
  };
  need(1);
  const initial = bytes[offset]!;
  offset += 1;
  const major = initial >> 5;
  const info = initial & 0x1f;

  let argument: number;
  if (info < 24) argument = info;
  else if (info === 24) (need(1), (argument = view.getUint8(offset)), (offset += 1));
  else if (info === 25) (need(2), (argument = view.getUint16(offset)), (offset += 2));
  else if (info === 26) (need(4), (argument = view.getUint32(offset)), (offset += 4));
  else if (info === 27) {
    need(8);
    const big = view.getBigUint64(offset);
    offset += 8;
    if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new CborError('CBOR integer beyond 2^53');
    argument = Number(big);
  } else throw new CborError('indefinite lengths and reserved values are not used by WebAuthn');

  switch (major) {
    case 0:
      return { value: argument, end: offset };
    case 1:
      return { value: -1 - argument, end: offset };
    case 2:
      need(argument);
      return { value: bytes.slice(offset, offset + argument), end: offset + argument };
    case 3:
      need(argument);
      return { value: new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes.subarray(offset, offset + argument)), end: offset + argument };
    case 4: {
      const items: CborValue[] = [];
      for (let i = 0; i < argument; i++) {
        const item = decodeCbor(bytes, offset, depth + 1);
        items.push(item.value);
        offset = item.end;
      }
      return { value: items, end: offset };
    }
    case 5: {
      const map = new Map<CborValue, CborValue>();
      for (let i = 0; i < argument; i++) {
        const key = decodeCbor(bytes, offset, depth + 1);
        const value = decodeCbor(bytes, key.end, depth + 1);
        map.set(key.value, value.value);
        offset = value.end;
      }
      return { value: map, end: offset };
    }
    case 7:
      if (info === 20) return { value: false, end: offset };
      if (info === 21) return { value: true, end: offset };
      if (info === 22) return { value: null, end: offset };
      if (info === 23) return { value: undefined, end: offset };
      throw new CborError('CBOR floats and other simple values are not used by WebAuthn');
    default:
      // Major type 6 (tags) does not occur in attestation objects.
      throw new CborError(`CBOR major type ${major} is not used by WebAuthn`);
  }
}
