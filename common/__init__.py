"""What every app of the portal may use and that uses none of them: environment readers
(``env``), request-body caps and storable-text checks for every door (``body_limits``,
``text``), the websocket base with its close codes and group names (``websockets``), and
which paths the API handler serves (``api_paths``). It imports no app of the project; the
import-linter contracts in pyproject.toml hold it to that."""
