"""Print HTML to PDF with WeasyPrint, reading nothing from outside.

WeasyPrint needs the system's Pango library (see the README's quick start).
Everything a report shows is embedded (styles, SVG figures as data URIs); an
image a study's own texts point to is read only if it is a file inside the
study folder. Nothing is fetched from the network.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import unquote, urlparse

from ..errors import PipelineError
from ..outputs import write_atomically


def _fetcher_class():
    from weasyprint.urls import URLFetcher

    class StudyFolderFetcher(URLFetcher):
        """Data URIs, and files inside one folder; everything else is refused."""

        def __init__(self, folder: Path) -> None:
            super().__init__(allowed_protocols=("data", "file"))
            self.folder = folder.resolve()

        def fetch(self, url, headers=None):
            if url.startswith("file:"):
                path = Path(unquote(urlparse(url).path)).resolve()
                if not path.is_relative_to(self.folder):
                    raise ValueError(f"only files inside {self.folder} may be shown: {url}")
            return super().fetch(url, headers)

    return StudyFolderFetcher


def html_to_pdf(
    html: str, target: str | Path, *, base_dir: str | Path, stylesheets: tuple[str, ...] = ()
) -> Path:
    """Print an HTML document to ``target``, atomically.

    Parameters
    ----------
    html
        The document, styles embedded.
    target
        The PDF to write; replaced only once the whole PDF is written.
    base_dir
        The folder relative links are read from (the study folder); nothing
        outside it is read.
    stylesheets
        CSS laid over the document's own styles (e.g. a print stylesheet for
        an HTML report made for the screen).

    Raises
    ------
    PipelineError
        When WeasyPrint or the system libraries it needs are missing.
    """
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: Pango missing from the system
        raise PipelineError(
            f"cannot print PDF: WeasyPrint or the system's Pango library is missing ({exc}); "
            "see the README's quick start"
        ) from None
    # WeasyPrint reports every unsupported CSS property it skips; only its errors matter here.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    base = Path(base_dir).resolve()
    document = weasyprint.HTML(
        string=html, base_url=base.as_uri() + "/", url_fetcher=_fetcher_class()(base)
    )
    styles = [weasyprint.CSS(string=css) for css in stylesheets]
    return write_atomically(target, lambda tmp: document.write_pdf(tmp, stylesheets=styles))
