"""polymodal"""
