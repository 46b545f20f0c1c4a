// Notebook pages (mkdocs-jupyter): render the $…$ and $$…$$ of markdown cells with the
// bundled KaTeX. mkdocs.yml hands this file to the plugin as its "MathJax" URL, so the
// notebook template loads it instead of MathJax from a CDN; it runs once the page's
// scripts (KaTeX among them) are loaded.
window.addEventListener("DOMContentLoaded", () => {
  for (const cell of document.querySelectorAll(".jupyter-wrapper .jp-MarkdownOutput")) {
    renderMathInElement(cell, {
      delimiters: [
        { left: "$$", right: "$$", display: true },
        { left: "$", right: "$", display: false },
      ],
      throwOnError: false,
    });
  }
});
