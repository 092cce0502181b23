// The baseline renderer: on every update, parse the whole text again with markdown-it (code
// highlighted by highlight.js, like ours), sanitize it with DOMPurify and replace the DOM.
// The same anywidget render({ model, el }) contract and the same messages as ours.
import MarkdownIt from "markdown-it";
import DOMPurify from "dompurify";
import hljs from "highlight.js/lib/core";
import python from "highlight.js/lib/languages/python";

hljs.registerLanguage("python", python);
const md = new MarkdownIt({
  html: false,
  linkify: true,
  highlight: (code, lang) => (hljs.getLanguage(lang) ? hljs.highlight(code, { language: lang }).value : ""),
});

function render({ model, el }) {
  let text = model.get("text") ?? "";
  const body = document.createElement("div");
  body.className = "naive-body";
  el.append(body);
  const show = () => {
    body.innerHTML = DOMPurify.sanitize(md.render(text));
  };
  const onMessage = (msg) => {
    if (msg && msg.type === "delta" && msg.content) {
      text += msg.content;
      show();
    }
  };
  const onText = () => {
    text = model.get("text") ?? "";
    show();
  };
  model.on("msg:custom", onMessage);
  model.on("change:text", onText);
  show();
  return () => {
    model.off("msg:custom", onMessage);
    model.off("change:text", onText);
    body.remove();
  };
}

export default { render };
