"""Where models come from: presets, local files and the hub; and their stored weights."""
