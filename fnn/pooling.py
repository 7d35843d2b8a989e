"""(being written)"""

__all__: list[str] = []
LAYERS: list[str] = []
