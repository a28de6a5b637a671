import sys

from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse


def form(request):
    if request.method == "POST":
        return render(request, "done.html", {"name": request.POST.get("name", "")})
    return render(request, "form.html")


def hello(request):
    return JsonResponse({"script_name": request.META.get("SCRIPT_NAME"),
                         "path": request.path, "path_info": request.path_info,
                         "reverse": reverse("form"), "prefix": sys.prefix})
