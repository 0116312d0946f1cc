//! The texts `--quick` (and the tests) use in place of *Alice's Adventures in Wonderland*
//! and the gutenberg.org home page: a short passage and a short HTML page written for
//! this project (never pasted from the originals).

/// A prose passage (a few hundred GPT-2 tokens, so that the middle slice of the tiny
/// models' 64-token context lies well inside it).
pub const TEXT: &str = "The lighthouse keeper climbed the spiral stairs every evening at \
dusk, counting the steps aloud as his father had taught him. There were one hundred and \
twelve of them, and on the hundred and twelfth he always paused to look out over the \
harbour. Fishing boats came home in a ragged line, their lamps swinging. Gulls argued on \
the breakwater. Somewhere below, a dog barked twice and then thought better of it. He \
trimmed the wick, polished the great lens with a soft cloth, and wound the clockwork \
that turned the beam. When the light began to sweep across the water he sat down with \
his logbook and wrote the date, the wind, the state of the sea and the names of the \
boats that had returned. Most nights the list was complete. On the nights it was not, he \
left the page open and kept watch until morning, listening for an engine, a shout, or \
the scrape of a hull on the shingle. His daughter said he worried too much. He said \
that worrying was the job, and the lamp was only the part that people could see. In \
winter the storms came in from the west and the spray reached the gallery rail. In \
summer the tourists came instead, with cameras and questions, and he answered them \
patiently, because a lighthouse that nobody visits is soon a lighthouse that nobody \
remembers to pay for.";

/// A small HTML page with the markup a library's home page has (navigation, links,
/// lists), for Part 5 under `--quick`.
pub const HTML: &str = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<title>Free Reading Room</title>\n<link rel=\"stylesheet\" href=\"/css/site.css\">\n</head>\n\
<body>\n<header class=\"top\">\n<nav>\n<ul>\n<li><a href=\"/\">Home</a></li>\n\
<li><a href=\"/search\">Search</a></li>\n<li><a href=\"/latest\">Latest books</a></li>\n\
<li><a href=\"/about\">About us</a></li>\n</ul>\n</nav>\n</header>\n<main id=\"content\">\n\
<h1>Welcome to the Free Reading Room</h1>\n<p>Thousands of old books, free to read \
online or to download.</p>\n<div class=\"box\">\n<h2>Popular this week</h2>\n<ol>\n\
<li><a href=\"/book/101\">The Clockmaker's Garden</a></li>\n<li><a href=\"/book/202\">\
A Voyage to the Salt Islands</a></li>\n<li><a href=\"/book/303\">Letters from a Quiet \
Town</a></li>\n</ol>\n</div>\n<form action=\"/search\" method=\"get\">\n<input type=\"text\" \
name=\"q\" placeholder=\"Title or author\">\n<button type=\"submit\">Go</button>\n</form>\n\
</main>\n<footer><p>&copy; Free Reading Room volunteers</p></footer>\n</body>\n</html>\n";
