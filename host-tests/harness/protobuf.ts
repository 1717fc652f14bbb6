// Protobuf wire encoding of the few messages a property can return whole (Envoy serializes a
// message-typed property with SerializeToString): core.v3.Node, core.v3.Locality and
// google.protobuf.Struct.

/** A google.protobuf.Struct / Value as JSON. */
export type StructValue = string | number | boolean | null | StructValue[] | { [key: string]: StructValue };

class ProtoWriter {
  private readonly out: number[] = [];

  private varint(value: number): void {
    let rest = value;
    while (rest >= 0x80) {
      this.out.push((rest % 0x80) | 0x80);
      rest = Math.floor(rest / 0x80);
    }
    this.out.push(rest);
  }

  private tag(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }

  /** proto3 leaves empty strings out. */
  string(field: number, value: string): this {
    if (value === "") return this;
    return this.bytes(field, new TextEncoder().encode(value));
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, 2);
    this.varint(value.length);
    this.out.push(...value);
    return this;
  }

  double(field: number, value: number): this {
    this.tag(field, 1);
    const buffer = new DataView(new ArrayBuffer(8));
    buffer.setFloat64(0, value, true);
    this.out.push(...new Uint8Array(buffer.buffer));
    return this;
  }

  enumOrBool(field: number, value: number): this {
    this.tag(field, 0);
    this.varint(value);
    return this;
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

function encodeValue(value: StructValue): Uint8Array {
  const writer = new ProtoWriter();
  if (value === null) return writer.enumOrBool(1, 0).finish();
  if (typeof value === "number") return writer.double(2, value).finish();
  // A Value's oneof is written even when it holds the default.
  if (typeof value === "string") return writer.bytes(3, new TextEncoder().encode(value)).finish();
  if (typeof value === "boolean") return writer.enumOrBool(4, value ? 1 : 0).finish();
  if (Array.isArray(value)) {
    const list = new ProtoWriter();
    for (const item of value) list.bytes(1, encodeValue(item));
    return writer.bytes(6, list.finish()).finish();
  }
  return writer.bytes(5, encodeStruct(value)).finish();
}

export function encodeStruct(fields: { [key: string]: StructValue }): Uint8Array {
  const writer = new ProtoWriter();
  for (const [key, value] of Object.entries(fields)) {
    const entry = new ProtoWriter().string(1, key).bytes(2, encodeValue(value)).finish();
    writer.bytes(1, entry);
  }
  return writer.finish();
}

export interface LocalityMessage {
  region: string;
  zone: string;
  subZone: string;
}

export function encodeLocality(locality: LocalityMessage): Uint8Array {
  return new ProtoWriter()
    .string(1, locality.region)
    .string(2, locality.zone)
    .string(3, locality.subZone)
    .finish();
}

export interface NodeMessage {
  id: string;
  cluster: string;
  metadata: { [key: string]: StructValue };
  locality: LocalityMessage;
}

export function encodeNode(node: NodeMessage): Uint8Array {
  const writer = new ProtoWriter().string(1, node.id).string(2, node.cluster);
  if (Object.keys(node.metadata).length > 0) writer.bytes(3, encodeStruct(node.metadata));
  const locality = encodeLocality(node.locality);
  if (locality.length > 0) writer.bytes(4, locality);
  return writer.finish();
}
