// yargs-parser ships no type declarations; this is the part of its API vtree uses.
declare module 'yargs-parser' {
  interface Options {
    boolean?: string[];
    string?: string[];
    number?: string[];
    array?: string[];
    alias?: Record<string, string[]>;
    default?: Record<string, unknown>;
    configuration?: Record<string, boolean | string>;
  }
  interface Arguments {
    _: (string | number)[];
    '--'?: (string | number)[];
    [key: string]: unknown;
  }
  interface Parser {
    (args: string[], options?: Options): Arguments;
  }
  const parser: Parser;
  export default parser;
}
