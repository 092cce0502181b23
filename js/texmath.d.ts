// markdown-it-texmath ships no types: the parts js/formulas.ts uses.
declare module "markdown-it-texmath" {
  import type { PluginWithOptions } from "markdown-it";

  interface TexmathRule {
    name: string;
    rex: RegExp;
    post?: (str: string, outerSpace: boolean, end: number) => boolean;
  }
  interface TexmathOptions {
    delimiters?: string | string[];
    engine?: { renderToString(tex: string, options: object): string };
  }
  const texmath: PluginWithOptions<TexmathOptions> & {
    rules: Record<string, { inline: TexmathRule[]; block: TexmathRule[] }>;
  };
  export default texmath;
}
