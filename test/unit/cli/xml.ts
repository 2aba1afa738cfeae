/**
 * A strict little XML reader for the SVG tests: elements, attributes, text; throws on anything that is
 * not well-formed (an unclosed or mismatched tag, an unquoted or repeated attribute, a bare `<` or `&`).
 */
export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const ENTITY = /^&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/;
const NAME = /^[A-Za-z_][\w.:-]*/;

const checkText = (text: string, where: number) => {
  for (let i = text.indexOf('&'); i >= 0; i = text.indexOf('&', i + 1)) {
    if (!ENTITY.test(text.slice(i))) throw new Error(`bare & at ${where + i}`);
  }
  if (text.includes('<')) throw new Error(`bare < at ${where}`);
};

export const parseXml = (source: string): XmlElement => {
  let at = 0;
  const root: XmlElement = { name: '#document', attributes: {}, children: [], text: '' };
  const stack: XmlElement[] = [root];
  while (at < source.length) {
    const open = source.indexOf('<', at);
    const text = source.slice(at, open < 0 ? source.length : open);
    checkText(text, at);
    (stack[stack.length - 1] as XmlElement).text += text;
    if (open < 0) break;
    if (source.startsWith('<?', open) || source.startsWith('<!--', open)) {
      const close = source.indexOf(source.startsWith('<?', open) ? '?>' : '-->', open);
      if (close < 0) throw new Error(`unterminated declaration or comment at ${open}`);
      at = close + 2;
      continue;
    }
    if (source.startsWith('</', open)) {
      const name = NAME.exec(source.slice(open + 2))?.[0];
      const element = stack.pop();
      if (!name || element?.name !== name || source[open + 2 + name.length] !== '>') throw new Error(`mismatched </${name}> at ${open}`);
      at = open + 3 + name.length;
      continue;
    }
    const name = NAME.exec(source.slice(open + 1))?.[0];
    if (!name) throw new Error(`bad tag at ${open}`);
    const element: XmlElement = { name, attributes: {}, children: [], text: '' };
    at = open + 1 + name.length;
    for (;;) {
      const rest = source.slice(at);
      const space = /^\s*/.exec(rest)?.[0].length ?? 0;
      if (rest.startsWith('/>', space) || rest.startsWith('>', space)) {
        (stack[stack.length - 1] as XmlElement).children.push(element);
        if (rest.startsWith('/>', space)) at += space + 2;
        else {
          stack.push(element);
          at += space + 1;
        }
        break;
      }
      const attribute = /^\s+([A-Za-z_][\w.:-]*)="([^"<]*)"/.exec(rest);
      if (!attribute?.[1]) throw new Error(`bad attribute in <${name}> at ${at}`);
      if (Object.hasOwn(element.attributes, attribute[1])) throw new Error(`repeated attribute ${attribute[1]} in <${name}>`);
      checkText(attribute[2] ?? '', at);
      element.attributes[attribute[1]] = attribute[2] ?? '';
      at += attribute[0].length;
    }
  }
  if (stack.length !== 1) throw new Error(`unclosed <${stack[stack.length - 1]?.name}>`);
  if (root.children.length !== 1 || root.text.trim() !== '') throw new Error('not exactly one root element');
  return root.children[0] as XmlElement;
};

/** Every element below (and including) this one, depth first. */
export const allElements = (element: XmlElement): XmlElement[] => [element, ...element.children.flatMap(allElements)];
