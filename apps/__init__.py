"""The top floor: what drives several packages at once, the demo (``python -m apps.demo``) and the web app
(``python -m apps.web``). Each package contributes its own demo step and app tab; this package only lists them."""
