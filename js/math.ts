/**
 * The math bundle (built to ling_notebook/static/math.js): Temml alone. It is half the size of the
 * renderer, so a page compiles it only when a reply first shows a formula (formulas.ts `provideMath`,
 * loader.ts imports it from the source the kernel sent with the renderer).
 */
import temml from "temml";
import type { MathEngine } from "./formulas";

const math: MathEngine = { renderToString: (tex, options) => temml.renderToString(tex, options) };

export default math;
