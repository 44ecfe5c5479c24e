"""Planning: estimate, fit, compare and sweep, each through the engines' one sizing rule."""
