// A minimal DOM for renderConfirmation in Node: only text APIs work; any HTML parsing API throws.

export class FakeNode {
  parent: FakeElement | null = null;

  remove(): void {
    if (this.parent === null) return;
    this.parent.childNodes = this.parent.childNodes.filter((node) => node !== this);
    this.parent = null;
  }
}

export class FakeText extends FakeNode {
  constructor(readonly data: string) {
    super();
  }
}

type Listener = (event: { type: string }) => void;

function escapeText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function escapeAttribute(text: string): string {
  return escapeText(text).replace(/"/g, '&quot;');
}

export class FakeElement extends FakeNode {
  childNodes: FakeNode[] = [];
  readonly attributes = new Map<string, string>();
  private readonly listeners = new Map<string, Listener[]>();
  disabled = false;

  constructor(
    readonly tagName: string,
    readonly ownerDocument: FakeDocument,
  ) {
    super();
  }

  get className(): string {
    return this.attributes.get('class') ?? '';
  }
  set className(value: string) {
    this.attributes.set('class', value);
  }
  get id(): string {
    return this.attributes.get('id') ?? '';
  }
  set id(value: string) {
    this.attributes.set('id', value);
  }
  get type(): string {
    return this.attributes.get('type') ?? '';
  }
  set type(value: string) {
    this.attributes.set('type', value);
  }
  get tabIndex(): number {
    return Number(this.attributes.get('tabindex') ?? '-1');
  }
  set tabIndex(value: number) {
    this.attributes.set('tabindex', String(value));
  }

  get children(): FakeElement[] {
    return this.childNodes.filter((node): node is FakeElement => node instanceof FakeElement);
  }

  get textContent(): string {
    return this.childNodes.map((node) => (node instanceof FakeText ? node.data : (node as FakeElement).textContent)).join('');
  }
  set textContent(value: string) {
    this.replaceChildren(new FakeText(value));
  }

  // The HTML parsing entry points: renderConfirmation must never reach them.
  set innerHTML(_value: string) {
    throw new Error('innerHTML must not be used');
  }
  get innerHTML(): string {
    return this.childNodes.map(serialize).join('');
  }
  set outerHTML(_value: string) {
    throw new Error('outerHTML must not be used');
  }
  get outerHTML(): string {
    return serialize(this);
  }
  insertAdjacentHTML(): never {
    throw new Error('insertAdjacentHTML must not be used');
  }

  append(...nodes: Array<FakeNode | string>): void {
    for (const node of nodes) {
      const child = typeof node === 'string' ? new FakeText(node) : node;
      child.remove();
      child.parent = this;
      this.childNodes.push(child);
    }
  }

  replaceChildren(...nodes: Array<FakeNode | string>): void {
    for (const node of this.childNodes) node.parent = null;
    this.childNodes = [];
    this.append(...nodes);
  }

  setAttribute(name: string, value: string): void {
    if (name.toLowerCase().startsWith('on')) throw new Error('event handler attributes must not be used');
    this.attributes.set(name, String(value));
  }
  getAttribute(name: string): string | null {
    return this.attributes.get(name) ?? null;
  }

  addEventListener(type: string, listener: Listener): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }

  /** Like a user's click: a disabled button does nothing. */
  click(): void {
    if (this.disabled) return;
    for (const listener of this.listeners.get('click') ?? []) listener({ type: 'click' });
  }

  focus(): void {
    this.ownerDocument.activeElement = this;
  }

  querySelectorAll(tag: string): FakeElement[] {
    const found: FakeElement[] = [];
    for (const child of this.children) {
      if (child.tagName === tag.toUpperCase()) found.push(child);
      found.push(...child.querySelectorAll(tag));
    }
    return found;
  }

  /** Every element below this one, for "no <script> was created" checks. */
  descendants(): FakeElement[] {
    return this.children.flatMap((child) => [child, ...child.descendants()]);
  }
}

function serialize(node: FakeNode): string {
  if (node instanceof FakeText) return escapeText(node.data);
  const element = node as FakeElement;
  const tag = element.tagName.toLowerCase();
  const attributes = [...element.attributes].map(([name, value]) => ` ${name}="${escapeAttribute(value)}"`).join('');
  const disabled = element.disabled ? ' disabled' : '';
  return `<${tag}${attributes}${disabled}>${element.childNodes.map(serialize).join('')}</${tag}>`;
}

export class FakeDocument {
  activeElement: FakeElement | null = null;
  readonly created: FakeElement[] = [];

  createElement(tag: string): FakeElement {
    const element = new FakeElement(tag.toUpperCase(), this);
    this.created.push(element);
    return element;
  }
}
