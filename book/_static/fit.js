// The page as a reader sees it: let table headers such as `best_test_accuracy` wrap after their
// underscores, so that a table of results fits the text column (see fit.css). A <wbr> is only a
// place where the line may break: it adds no character, to the text read aloud or copied.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".bd-article table.dataframe th").forEach((th) => {
    const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
    const texts = [];
    while (walker.nextNode()) texts.push(walker.currentNode);
    texts.filter((node) => node.data.includes("_")).forEach((node) => {
      const parts = node.data.split("_");
      const pieces = parts.flatMap((part, i) =>
        i < parts.length - 1 ? [`${part}_`, document.createElement("wbr")] : [part]);
      node.replaceWith(...pieces);
    });
  });
});
