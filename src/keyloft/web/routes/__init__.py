"""HTTP routes: parse the request, call one service, render the answer."""
