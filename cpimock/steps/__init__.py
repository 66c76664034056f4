"""iFlow steps: loading and running them within the iFlow's timeout (Python functions, content
modifiers, Groovy scripts).
"""
